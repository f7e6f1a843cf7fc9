"""`--missing interpolate` in training: gaps filled along time, series by series, and the filled
values left out of the reconstruction error (the loss of data without gaps is as it was)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tsvq.data.collection import SeriesCollection
from tsvq.data.windows import DataSpec, keep_batches, prepare, series_batches
from tsvq.errors import TsvqError
from tsvq.model.vqvae import VQVAE, ModelConfig
from tsvq.train.setup import losses

T = 32


def _series(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.round(rng.normal(size=(n, 2)).cumsum(0), 3).astype(np.float32)


def _spec(missing: str = "interpolate") -> DataSpec:
    return DataSpec("custom", None, None, T, missing=missing)


def test_gaps_are_filled_along_time_and_marked_where_filled():
    a, b = _series(200, 1), _series(150, 2)
    a[[10, 11, 12], 0] = np.nan  # a gap inside: the line between rows 9 and 13
    b[0, 1] = np.nan  # a gap at the start: the first value
    data = prepare(SeriesCollection.of([a, b], ["x", "y"], ["a", "b"]), _spec())
    rows = data.splits["train"] * data.scaler.scale + data.scaler.shift  # back in file units
    np.testing.assert_allclose(rows[10:13, 0], np.linspace(a[9, 0], a[13, 0], 5)[1:4], rtol=1e-5)
    start_b = int(data.offsets["train"][1])
    np.testing.assert_allclose(rows[start_b, 1], b[1, 1], rtol=1e-5)
    filled = data.filled["train"]
    assert np.flatnonzero(filled[:, 0]).tolist() == [10, 11, 12]
    assert np.flatnonzero(filled[:, 1]).tolist() == [start_b]
    assert not data.filled["val"].any() and not data.filled["test"].any()


def test_keep_masks_follow_the_batches_series_by_series():
    a = _series(200, 1)
    a[50, 1] = np.nan
    data = prepare(SeriesCollection.of([a], ["x", "y"]), _spec())
    order = np.random.default_rng(0).permutation(data.n_windows("train") * 2)
    pairs = zip(
        series_batches(data, "train", 16, order),
        keep_batches(data, "train", 16, order),
        strict=True,
    )
    zeros = 0
    for b, (x, keep) in enumerate(pairs):
        idx = order[b * 16 : (b + 1) * 16]
        for i, k in enumerate(idx):
            w, c = divmod(int(k), 2)
            expect = np.ones(T, np.float32)
            if c == 1 and w <= 50 < w + T:
                expect[50 - w] = 0.0
            np.testing.assert_array_equal(keep[i].numpy(), expect)
        zeros += int((keep == 0).sum())
        assert x.shape == keep.shape
    assert zeros == T  # row 50 lies in T windows of channel y


def test_without_gaps_there_is_no_mask_and_the_batches_are_as_before():
    a = _series(200, 1)
    for missing in ("error", "interpolate"):
        data = prepare(SeriesCollection.of([a], ["x", "y"]), _spec(missing))
        assert data.filled is None
        assert all(k is None for k in keep_batches(data, "train", 16))
    plain = prepare(SeriesCollection.of([a], ["x", "y"]), _spec("error"))
    filled = prepare(SeriesCollection.of([a], ["x", "y"]), _spec("interpolate"))
    for x, y in zip(
        series_batches(plain, "train", 16), series_batches(filled, "train", 16), strict=True
    ):
        assert torch.equal(x, y)


def test_a_filled_value_does_not_count_in_the_reconstruction_error():
    torch.manual_seed(0)
    model = VQVAE(ModelConfig(context_points=T))
    x = torch.randn(8, T)
    keep = torch.ones(8, T)
    keep[3, 5] = keep[6, 20:24] = 0.0
    with torch.no_grad():
        recon, vq, out = losses(model, x, keep)
        err = (out.recon - out.target).pow(2)
        # the sum per series over the values kept: the spec's units, the filled ones left out
        assert recon.item() == pytest.approx(
            (err.sum() - err[3, 5] - err[6, 20:24].sum()).item() / 8
        )
        assert recon.item() < losses(model, x)[0].item()
        # all kept is the loss of data without gaps, to the bit
        assert torch.equal(losses(model, x, torch.ones(8, T))[0], losses(model, x)[0])


def test_a_column_without_any_value_is_refused_by_name():
    a = _series(200, 1)
    a[:, 1] = np.nan
    with pytest.raises(TsvqError, match="series 'p', column 'y' has no value at all"):
        prepare(SeriesCollection.of([a, _series(100, 3)], ["x", "y"], ["p", "q"]), _spec())
