"""tsvq.report.baseline: the equal-bit codebook and the window mean, against a direct float64
computation (loops over windows, channels and segments, no shared code) on small data."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from tsvq.data.table import Table
from tsvq.data.windows import DataSpec, SeriesData, load, prepare
from tsvq.errors import TsvqError
from tsvq.model.kmeans import kmeans
from tsvq.model.revin import EPS
from tsvq.report.baseline import (
    baseline,
    bits_per_value,
    fit_codebook,
    score,
    training_segments,
)


def _data(rows: int = 400, channels: int = 3, context: int = 32, seed: int = 0) -> SeriesData:
    """A small custom series: sines of different periods with noise and a level shift."""
    rng = np.random.default_rng(seed)
    t = np.arange(rows)[:, None]
    values = np.sin(t / (3 + 4 * np.arange(channels))) + 0.3 * rng.standard_normal((rows, channels))
    values[rows // 2 :, 0] += 5.0  # a window straddling the shift has a large variance
    dates = np.arange(rows).astype("datetime64[h]")
    table = Table(values.astype(np.float32), [f"c{i}" for i in range(channels)], dates)
    return prepare(table, DataSpec("custom", None, None, context))


def _direct(data: SeriesData, split: str, codebook: np.ndarray, revin: bool) -> tuple:
    """MSE per element of the codebook and of the window mean, window by window, in float64."""
    rows = data.splits[split].astype(np.float64)
    t, seg = data.spec.context_points, codebook.shape[1]
    code_se = mean_se = 0.0
    count = 0
    for w in range(rows.shape[0] - t + 1):
        for c in range(rows.shape[1]):
            x = rows[w : w + t, c]
            if revin:
                x = (x - x.mean()) / math.sqrt(x.var() + EPS)
            mean_se += float(((x - x.mean()) ** 2).sum())
            for j in range(0, t, seg):
                code_se += float(((codebook - x[j : j + seg]) ** 2).sum(axis=1).min())
            count += t
    return code_se / count, mean_se / count


@pytest.mark.parametrize("revin", [True, False])
@pytest.mark.parametrize(("k", "segment"), [(8, 4), (16, 8)])
def test_baseline_is_the_direct_float64_computation(revin: bool, k: int, segment: int) -> None:
    data = _data()
    b = baseline(data, "test", k, segment, revin=revin)
    codebook = fit_codebook(data, k, segment, revin).double().numpy()
    code_mse, mean_mse = _direct(data, "test", codebook, revin)
    assert math.isclose(b.kmeans_mse, code_mse, rel_tol=1e-5), (b.kmeans_mse, code_mse)
    assert math.isclose(b.window_mean_mse, mean_mse, rel_tol=1e-5), (b.window_mean_mse, mean_mse)
    assert math.isclose(b.kmeans_mse, float(np.mean(b.kmeans_mse_per_channel)), rel_tol=1e-9)
    assert b.kmeans_mse < b.window_mean_mse  # 8 codes of a few steps beat one level per window
    assert b.bits_per_value == math.log2(k) / segment
    if revin:  # each normalised window's own mean is 0, its variance var / (var + eps) < 1
        assert 0.9 < b.window_mean_mse < 1.0


def test_the_fit_sees_every_training_segment_of_every_phase() -> None:
    """Asked for more segments than there are, the sample is every segment of every training
    series (window starts at every row), in float64 the same as enumerating them directly."""
    data = _data(rows=200, channels=2, context=16)
    sample = training_segments(data, 4, True, n_segments=10**9, seed=3).double().numpy()
    rows = data.splits["train"].astype(np.float64)
    direct = []
    for w in range(rows.shape[0] - 16 + 1):
        for c in range(2):
            x = rows[w : w + 16, c]
            direct.append(((x - x.mean()) / math.sqrt(x.var() + EPS)).reshape(4, 4))
    direct = np.concatenate(direct)
    assert sample.shape == direct.shape
    order = np.lexsort(sample.T), np.lexsort(direct.T)
    np.testing.assert_allclose(sample[order[0]], direct[order[1]], atol=1e-5)


def test_the_codebook_is_a_kmeans_fixed_point() -> None:
    """Lloyd run to convergence: each code is the float64 mean of the sample segments nearest it."""
    data = _data()
    sample = training_segments(data, 4, True, n_segments=10**9, seed=0)
    codes = kmeans(sample, 8, iters=300, seed=0).double().numpy()
    x = sample.double().numpy()
    nearest = ((x[:, None, :] - codes[None]) ** 2).sum(axis=2).argmin(axis=1)
    for i in range(8):
        assert (nearest == i).any()
        np.testing.assert_allclose(codes[i], x[nearest == i].mean(axis=0), atol=1e-4)


def test_fewer_distinct_segments_than_codes_are_each_kept_exactly() -> None:
    x = torch.tensor([[0.0, 1.0], [2.0, -1.0], [5.0, 5.0]]).repeat(10, 1)
    codes = kmeans(x, 5, iters=5, seed=1)
    err = torch.cdist(x, codes).min(dim=1).values
    assert float(err.max()) == 0.0


def test_same_seed_same_baseline_and_the_seed_matters_little() -> None:
    data = _data()
    a, b = (baseline(data, "val", 16, 4, seed=s).kmeans_mse for s in (0, 0))
    assert a == b
    other = baseline(data, "val", 16, 4, seed=1).kmeans_mse
    assert math.isclose(a, other, rel_tol=0.25)


def test_on_etth1_the_codebook_is_far_better_than_the_window_mean() -> None:
    """The measured facts: about 0.028 on ETTh1's first channel (2 bits per value)."""
    data = load(DataSpec("etth1", None, None, 512, channel=0))
    b = baseline(data, "test", 256, 4, n_segments=60_000)
    assert b.bits_per_value == 2.0 and b.fit_segments == 60_032  # 469 series of 128 segments
    assert 0.02 < b.kmeans_mse < 0.04, b
    assert 0.999 < b.window_mean_mse < 1.0


@pytest.mark.parametrize(
    ("k", "cf", "bits"), [(256, 4, 2.0), (256, 8, 1.0), (1024, 4, 2.5), (16, 16, 0.25)]
)
def test_bits_per_value(k: int, cf: int, bits: float) -> None:
    assert bits_per_value(k, cf) == bits


def test_bad_inputs_say_what_is_allowed() -> None:
    data = _data()
    with pytest.raises(TsvqError, match="segment of 5 steps must divide context_points=32"):
        baseline(data, "test", 8, 5)
    with pytest.raises(TsvqError, match="split='dev' is not one of train, val, test"):
        score(torch.zeros(8, 4), data, "dev", True)
    with pytest.raises(TsvqError, match="codebook_size must be a positive integer, got 0"):
        baseline(data, "test", 0, 4)
