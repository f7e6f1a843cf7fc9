"""tsvq.revin: each series normalised by its own statistics, which are returned and undone."""

from __future__ import annotations

import torch

from tsvq.model.revin import denormalize, normalize


def test_revin_round_trip_and_stats():
    x = torch.randn(4, 64) * 5 + 3
    xn, stats = normalize(x)
    torch.testing.assert_close(xn.mean(-1), torch.zeros(4), atol=1e-5, rtol=0)
    torch.testing.assert_close(denormalize(xn, stats), x, atol=1e-4, rtol=1e-5)
    const, st = normalize(torch.full((1, 8), 2.0))  # constant series: no division by zero
    assert torch.isfinite(const).all() and torch.isfinite(st.std).all()
