"""Splits, scalers, feature selection and windows, checked against the PatchTST conventions."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tsvq.data.registry import ETT_HOUR, ETT_MINUTE, RATIO, REGISTRY, resolve_path
from tsvq.data.table import read_table
from tsvq.data.windows import (
    DataSpec,
    Scaler,
    epoch_order,
    load,
    series_batches,
    split_bounds,
)
from tsvq.errors import TsvqError


@pytest.mark.parametrize(
    ("dset", "context", "expected"),
    [
        ("etth1", 512, {"train": 8129, "val": 2881, "test": 2881}),
        ("etth2", 96, {"train": 8545, "val": 2881, "test": 2881}),
        ("ettm1", 512, {"train": 34049, "val": 11521, "test": 11521}),
        # 70/10/20 of 966 rows: 676 / 97 / 193
        pytest.param(
            "illness",
            36,
            {"train": 641, "val": 98, "test": 194},
            marks=pytest.mark.dataset("illness"),
        ),
    ],
)
def test_window_counts_match_patchtst(data_dir: Path, dset: str, context: int, expected: dict):
    data = load(DataSpec(dset, str(data_dir), None, context))
    assert {s: data.n_windows(s) for s in expected} == expected


def test_split_bounds_rules():
    assert split_bounds(17420, ETT_HOUR, 512) == {
        "train": (0, 8640),
        "val": (8640 - 512, 11520),
        "test": (11520 - 512, 14400),
    }
    assert split_bounds(69680, ETT_MINUTE, 96)["test"] == (46080 - 96, 57600)
    n = 7588
    b = split_bounds(n, RATIO, 96)
    assert b["train"] == (0, int(n * 0.7))
    assert b["test"] == (n - int(n * 0.2) - 96, n)


def test_split_too_short_is_a_clear_error():
    with pytest.raises(TsvqError, match="too short for context_points=800"):
        split_bounds(1000, RATIO, 800)


def test_scaler_fitted_on_train_rows_only(data_dir: Path):
    data = load(DataSpec("etth1", str(data_dir), None, 96))
    raw = read_table(data_dir / "ETT-small" / "ETTh1.csv").values.astype(np.float64)
    np.testing.assert_allclose(data.scaler.shift, raw[:8640].mean(axis=0), rtol=1e-5)
    np.testing.assert_allclose(data.scaler.scale, raw[:8640].std(axis=0), rtol=1e-5)
    assert np.abs(raw[:8640].mean(axis=0) - raw.mean(axis=0)).max() > 0.5  # it matters


@pytest.mark.parametrize("kind", ["standard", "minmax", "none"])
def test_scaler_kinds_are_honoured(kind: str):
    rows = np.array([[1.0, 5.0], [3.0, 5.0], [5.0, 5.0]], dtype=np.float32)
    s = Scaler.fit(kind, rows)
    out = s.transform(rows)
    if kind == "standard":
        np.testing.assert_allclose(out[:, 0], [-1.2247449, 0, 1.2247449], rtol=1e-6)
    elif kind == "minmax":
        np.testing.assert_allclose(out[:, 0], [0, 0.5, 1])
    else:
        np.testing.assert_array_equal(out, rows)
    np.testing.assert_allclose(out[:, 1], 0 if kind != "none" else 5)  # constant channel
    np.testing.assert_allclose(s.inverse(out), rows, rtol=1e-6)
    assert Scaler.from_dict(s.to_dict()).to_dict() == s.to_dict()


@pytest.mark.parametrize(
    ("dset", "features", "channels", "last"),
    [
        ("etth1", "M", 7, "OT"),
        ("etth1", "S", 1, "OT"),
        ("etth1", "MS", 7, "OT"),
        pytest.param("weather", "M", 21, "OT", marks=pytest.mark.dataset("weather")),
        pytest.param("exchange", "MS", 8, "OT", marks=pytest.mark.dataset("exchange")),
    ],
)
def test_features(data_dir: Path, dset: str, features: str, channels: int, last: str):
    data = load(DataSpec(dset, str(data_dir), None, 96, features=features))
    assert data.n_channels == channels
    assert data.columns[-1] == last


def test_missing_target_is_an_error(data_dir: Path):
    with pytest.raises(TsvqError, match="target column 'nope'"):
        load(DataSpec("etth1", str(data_dir), None, 96, features="S", target="nope"))


def test_channel_selection(data_dir: Path):
    data = load(DataSpec("etth1", str(data_dir), None, 96, channel=0))
    assert data.columns == ["HUFL"] and data.n_file_channels == 7
    with pytest.raises(TsvqError, match="channel=9 is out of range"):
        load(DataSpec("etth1", str(data_dir), None, 96, channel=9))


def test_windows_are_views_and_batches_gather_series(data_dir: Path):
    data = load(DataSpec("etth1", str(data_dir), None, 96))
    views = data.windows("train")
    assert views.shape == (data.n_windows("train"), 7, 96)
    assert np.shares_memory(views, data.splits["train"])  # no copy per window
    order = epoch_order(views.shape[0] * 7, seed=1, epoch=1)
    batch = next(series_batches(data, "train", 16, order))
    k = int(order[3])
    np.testing.assert_array_equal(
        batch[3].numpy(), data.splits["train"][k // 7 : k // 7 + 96, k % 7]
    )


def test_epoch_order_is_a_function_of_seed_and_epoch():
    a = epoch_order(100, 3, 5)
    np.testing.assert_array_equal(a, epoch_order(100, 3, 5))
    assert not np.array_equal(a, epoch_order(100, 3, 6))
    assert sorted(a) == list(range(100))


def test_registry_covers_the_benchmarks_and_custom(data_dir: Path):
    assert set(REGISTRY) == {
        "ettm1",
        "ettm2",
        "etth1",
        "etth2",
        "electricity",
        "traffic",
        "illness",
        "weather",
        "exchange",
    }
    assert resolve_path("weather", str(data_dir), None) == data_dir / "weather" / "weather.csv"


def test_custom_csv(tmp_path: Path):
    csv = tmp_path / "mine.csv"
    t = np.arange(400)
    lines = ["date,a,b"] + [
        f"2020-01-01 {i // 60:02d}:{i % 60:02d}:00,{np.sin(i / 5):.5f},{i}" for i in t[:360]
    ]
    csv.write_text("\n".join(lines) + "\n")
    data = load(DataSpec("custom", None, str(csv), 32, features="M", target="b"))
    assert data.columns == ["a", "b"]
    assert data.n_windows("train") == int(360 * 0.7) - 32 + 1


def test_epoch_order_limit_draws_a_bounded_subset():
    n = 10_000_000  # a traffic-sized set of series: no permutation of all of them is made
    a = epoch_order(n, 3, 5, limit=640)
    assert len(a) == 640 and len(set(a.tolist())) == 640 and a.max() < n
    np.testing.assert_array_equal(a, epoch_order(n, 3, 5, limit=640))
    assert not np.array_equal(a, epoch_order(n, 3, 6, limit=640))
    fixed = epoch_order(n, 0, 0, shuffle=False, limit=640)  # validation: sorted, fixed
    assert (np.diff(fixed) > 0).all()
    np.testing.assert_array_equal(epoch_order(50, 3, 5, limit=640), epoch_order(50, 3, 5))


@pytest.mark.parametrize(
    ("context", "horizon", "test_windows"), [(512, 96, 2785), (96, 96, 2785), (96, 336, 2545)]
)
def test_forecast_windows_cut_as_patchtst(
    data_dir: Path, context: int, horizon: int, test_windows: int
) -> None:
    # PatchTST's Dataset_ETT_hour: len = rows - seq_len - pred_len + 1 per split, the later
    # splits starting seq_len rows early: ETTh1's test split has 2880 - horizon + 1 windows
    data = load(DataSpec("etth1", str(data_dir), None, context))
    views = data.forecast_windows("test", horizon)
    assert views.shape == (test_windows, 7, context + horizon)
    assert np.shares_memory(views, data.splits["test"])
    # the first target starts at the test split's first row (row 11520 of the file), the last
    # target ends at its last row
    assert data.starts["test"] + context == 11520
    first_target = data.splits["test"][context : context + horizon]
    np.testing.assert_array_equal(views[0, :, context:], first_target.T)
    np.testing.assert_array_equal(views[-1, :, -1], data.splits["test"][-1])
    assert data.forecast_windows("train", 1).shape[0] == data.n_windows("train") - 1


@pytest.mark.parametrize("horizon", [0, -3, 2.0, True])
def test_forecast_windows_refuse_a_bad_horizon(data_dir: Path, horizon: object) -> None:
    data = load(DataSpec("etth1", str(data_dir), None, 96))
    with pytest.raises(TsvqError, match="horizon must be a positive integer"):
        data.forecast_windows("val", horizon)  # type: ignore[arg-type]


def test_forecast_windows_too_long_for_the_split(data_dir: Path) -> None:
    data = load(DataSpec("etth1", str(data_dir), None, 512))
    with pytest.raises(
        TsvqError,
        match="val split has 3392 rows, too short for context_points=512 \\+ horizon=3000",
    ):
        data.forecast_windows("val", 3000)
