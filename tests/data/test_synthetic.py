"""data.synthetic: random smooth series, deterministic in the seed."""

from __future__ import annotations

import numpy as np
import pytest

from tsvq.data.synthetic import smooth_series


def test_series_are_standardised_smooth_and_differ_from_each_other() -> None:
    made = smooth_series(64, 1000, seed=3)
    assert len(made) == 64
    x = np.stack(made).astype(np.float64)
    assert x.dtype == np.float64 and made[0].dtype == np.float32 and x.shape == (64, 1000)
    np.testing.assert_allclose(x.mean(axis=1), 0.0, atol=1e-5)
    np.testing.assert_allclose(x.std(axis=1), 1.0, atol=1e-5)
    # smooth: the step-to-step change is small beside the series' spread for most series
    roughness = np.abs(np.diff(x, axis=1)).mean(axis=1)
    assert np.median(roughness) < 0.3
    assert (roughness > 1e-3).all()  # and none is a constant
    corr = np.corrcoef(x)
    assert np.abs(corr[np.triu_indices(64, 1)]).mean() < 0.5  # not 64 copies of one shape


def test_the_seed_fixes_every_value() -> None:
    a, b, c = smooth_series(5, 300, 1), smooth_series(5, 300, 1), smooth_series(5, 300, 2)
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(x, y)
    assert not np.array_equal(a[0], c[0])


def test_bad_sizes_are_refused() -> None:
    with pytest.raises(ValueError, match="need n >= 0 and length >= 2, not n=-1, length=10"):
        smooth_series(-1, 10)
    with pytest.raises(ValueError, match="length=1"):
        smooth_series(3, 1)
