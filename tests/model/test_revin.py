"""tsvq.revin: each series normalised by its own statistics, which are returned and undone."""

from __future__ import annotations

import pytest
import torch

from tsvq.model.revin import denormalize, normalize


def test_revin_round_trip_and_stats():
    x = torch.randn(4, 64) * 5 + 3
    xn, stats = normalize(x)
    torch.testing.assert_close(xn.mean(-1), torch.zeros(4), atol=1e-5, rtol=0)
    torch.testing.assert_close(denormalize(xn, stats), x, atol=1e-4, rtol=1e-5)
    const, st = normalize(torch.full((1, 8), 2.0))  # constant series: no division by zero
    assert torch.isfinite(const).all() and torch.isfinite(st.std).all()


@pytest.mark.parametrize(
    "values",
    [
        [1e20, -1e20, 3e20, 0.0],  # squares beyond float32 (about 1.8e19 and up)
        [3.4e38, -3.4e38, 0.0, 1.0],  # float32's limits
        [3.4e38, 3.4e38, 3.4e38, 3.4e38],  # constant at the limit
        [1e-30, -1e-30, 2e-30, 0.0],  # tiny: eps dominates, as in float32
    ],
)
def test_statistics_of_finite_float32_never_overflow(values: list[float]) -> None:
    x = torch.tensor([values], dtype=torch.float32)
    xn, stats = normalize(x)
    assert xn.dtype == stats.mean.dtype == stats.std.dtype == torch.float32
    assert torch.isfinite(xn).all() and torch.isfinite(stats.mean).all()
    assert torch.isfinite(stats.std).all() and (stats.std > 0).all()
    wide = x.double()
    want = (wide - wide.mean(-1, keepdim=True)) / torch.sqrt(wide.var(-1, unbiased=False) + 1e-5)
    torch.testing.assert_close(xn.double(), want, rtol=1e-6, atol=1e-6)
    back = denormalize(xn, stats).double()
    assert torch.isfinite(back).all()
    torch.testing.assert_close(back, wide, rtol=1e-6, atol=float(wide.abs().max()) * 1e-6)
