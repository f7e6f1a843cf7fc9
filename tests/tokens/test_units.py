"""tsvq.units: back to the data's units, undoing RevIN with each window's statistics and then
the training scaler; the inverse of what training does on the way in."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tsvq.data.windows import Scaler
from tsvq.model.revin import normalize
from tsvq.tokens.units import original_units


@pytest.fixture
def windows() -> tuple[np.ndarray, Scaler]:
    """Three windows of 2 channels x 32 steps in units far apart (kW, then hundreds of mbar)."""
    rng = np.random.default_rng(0)
    x = np.stack([rng.normal(5, 2, (3, 32)), rng.normal(900, 30, (3, 32))], axis=1)  # [B, C, T]
    rows = x.transpose(0, 2, 1).reshape(-1, 2)  # [B*T, C], as a file's rows
    return x.astype(np.float32), Scaler.fit("standard", rows[:40])


@pytest.mark.parametrize("stats_shape", ["[B*C, 1]", "[B, C, 1]"])
def test_revin_then_scaler_undone(windows, stats_shape: str) -> None:
    x, scaler = windows
    scaled = torch.from_numpy((x - scaler.shift[:, None]) / scaler.scale[:, None])  # [B, C, T]
    xn, stats = normalize(scaled.reshape(-1, 32))  # RevIN per series [B*C, T]
    if stats_shape == "[B, C, 1]":
        stats = type(stats)(stats.mean.reshape(3, 2, 1), stats.std.reshape(3, 2, 1))
    back = original_units(xn.reshape(3, 2, 32), scaler, stats)
    torch.testing.assert_close(back, torch.from_numpy(x), rtol=1e-5, atol=1e-3)


def test_without_statistics_only_the_scaler_is_undone(windows) -> None:
    x, scaler = windows
    scaled = (x - scaler.shift[:, None]) / scaler.scale[:, None]
    back = original_units(torch.from_numpy(scaled), scaler)
    torch.testing.assert_close(back, torch.from_numpy(x), rtol=1e-5, atol=1e-3)
    np.testing.assert_allclose(
        back.numpy().transpose(0, 2, 1),
        scaler.inverse(scaled.transpose(0, 2, 1)),
        rtol=1e-6,
        atol=1e-4,
    )
