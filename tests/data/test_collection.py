"""A collection of series: each split and windowed on its own, no window across two series."""

from __future__ import annotations

import numpy as np
import pytest

from tsvq.data.collection import SeriesCollection
from tsvq.data.registry import RATIO
from tsvq.data.windows import SPLITS, DataSpec, prepare, series_batches, split_bounds
from tsvq.errors import TsvqError

CONTEXT = 24


def _panel(lengths: list[int], channels: int = 2, seed: int = 0) -> SeriesCollection:
    """Series of the given lengths, each a seeded random walk of its own level."""
    rng = np.random.default_rng(seed)
    series = [
        (rng.normal(size=(n, channels)).cumsum(0) + 100 * i).astype(np.float32)
        for i, n in enumerate(lengths)
    ]
    return SeriesCollection.of(series, [f"c{j}" for j in range(channels)])


def _spec(**kw: object) -> DataSpec:
    return DataSpec("custom", None, None, CONTEXT, **kw)  # type: ignore[arg-type]


LENGTHS = [120, 61, 200, 90, 35]  # 35: 70% is 24 rows, a single training window


def test_a_panel_gives_exactly_the_windows_of_each_series_alone():
    panel = _panel(LENGTHS)
    data = prepare(panel, _spec(scaler="none"))
    assert data.n_series == len(LENGTHS) and data.n_left_out == 0
    for split in SPLITS:
        alone = [
            np.asarray(
                prepare(SeriesCollection.of([s], panel.columns), _spec(scaler="none")).windows(
                    split
                )
            )
            for s in panel.series
        ]
        expected = np.concatenate(alone)
        got = np.asarray(data.windows(split))
        assert data.n_windows(split) == len(got) == sum(len(a) for a in alone)
        np.testing.assert_array_equal(got, expected)
        for k, n in enumerate(LENGTHS):  # the count of each series alone, by the split rule
            a, b = split_bounds(n, RATIO, CONTEXT)[split]
            assert len(alone[k]) == b - a - CONTEXT + 1


def test_no_window_crosses_two_series():
    panel = _panel(LENGTHS)
    data = prepare(panel, _spec(scaler="none"))
    for split in SPLITS:
        views = data.windows(split)
        for w in range(len(views)):
            name, row = data.window_origin(split, w)
            series = panel.series[panel.names.index(str(name))]
            # the window is rows [row, row + CONTEXT) of that one series, every channel
            np.testing.assert_array_equal(views[w], series[row : row + CONTEXT].T)


def test_batches_of_a_panel_hold_only_its_windows():
    panel = _panel(LENGTHS)
    data = prepare(panel, _spec(scaler="none"))
    views = np.asarray(data.windows("train"))  # [n, C, T]
    series = np.concatenate(list(series_batches(data, "train", 7))).reshape(-1, CONTEXT)
    np.testing.assert_array_equal(series, views.reshape(-1, CONTEXT))


def test_the_scaler_is_fitted_on_every_series_training_rows_alone():
    panel = _panel(LENGTHS)
    data = prepare(panel, _spec())
    train = np.concatenate(
        [s[: split_bounds(len(s), RATIO, CONTEXT)["train"][1]] for s in panel.series]
    )
    np.testing.assert_allclose(data.scaler.shift, train.mean(0), rtol=1e-5)
    np.testing.assert_allclose(data.scaler.scale, train.std(0), rtol=1e-5)


def test_a_series_too_short_for_a_window_is_left_out_and_counted():
    data = prepare(_panel([100, 20, 80]), _spec(scaler="none"))
    assert data.n_left_out == 1
    assert {s: data.n_windows(s) for s in SPLITS} == {
        s: sum(
            b - a - CONTEXT + 1 for a, b in (split_bounds(n, RATIO, CONTEXT)[s] for n in (100, 80))
        )
        for s in SPLITS
    }


def test_a_panel_of_series_all_too_short_is_one_clear_error():
    with pytest.raises(
        TsvqError, match=r"none of the 2 series is long enough .*longest has 30 rows"
    ):
        prepare(_panel([30, 20]), _spec())


@pytest.mark.parametrize(
    ("series", "columns", "message"),
    [
        ([np.zeros((10, 2)), np.zeros((10, 3))], ["a", "b"], r"series '1' has shape \(10, 3\)"),
        ([np.zeros((10, 2))], ["a", "a"], "column names given twice: 'a'"),
        ([], ["a"], "no series given"),
    ],
)
def test_a_collection_refuses_series_that_do_not_fit_together(series, columns, message):
    with pytest.raises(TsvqError, match=message):
        SeriesCollection.of(series, columns)


def test_forecast_windows_of_a_panel_stay_within_series():
    panel = _panel(LENGTHS)
    data = prepare(panel, _spec(scaler="none"))
    horizon = 5
    got = np.asarray(data.forecast_windows("test", horizon))
    alone = [
        np.asarray(
            prepare(SeriesCollection.of([s], panel.columns), _spec(scaler="none")).forecast_windows(
                "test", horizon
            )
        )
        for s in panel.series
    ]
    np.testing.assert_array_equal(got, np.concatenate(alone))
