"""The CSV reader and the dataset rules: every kind of bad file gets one clear TsvqError."""

from __future__ import annotations

import gzip
import math
import string
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tsvq.data.registry import REGISTRY
from tsvq.data.source import open_source
from tsvq.data.table import _read_fast, _read_strict, read_table
from tsvq.data.windows import DataSpec, prepare, select_columns
from tsvq.errors import TsvqError


def test_bad_file_is_refused_in_one_line(tmp_path: Path, bad_file: tuple[bytes, str]) -> None:
    content, needle = bad_file
    path = tmp_path / "bad.csv"
    path.write_bytes(content)
    with pytest.raises(TsvqError) as info:
        read_table(path)
    message = str(info.value)
    assert needle in message, message
    assert str(path) in message
    assert "\n" not in message


def test_missing_file_says_how_to_get_a_registered_dataset(tmp_path: Path) -> None:
    with pytest.raises(TsvqError, match="tsvq data download etth1"):
        read_table(tmp_path / "ETTh1.csv", "etth1")
    with pytest.raises(TsvqError, match="not found"):
        read_table(tmp_path / "mine.csv")
    with pytest.raises(TsvqError, match="is a directory"):
        read_table(tmp_path)


# name -> (file text, expected values)
GOOD_FILES = {
    "repeated dates (as weather.csv)": (
        "date,a,b\n2020-01-01,1,2\n2020-01-01,1,2\n2020-01-02,3,4\n",
        [[1, 2], [1, 2], [3, 4]],
    ),
    "CRLF, no final newline": ("date,a,b\r\n2020-01-01,1,2\r\n2020-01-02,3,4", [[1, 2], [3, 4]]),
    "spaces around cells": ("date,a,b\n2020-01-01 , 1 ,2\n2020-01-02, 3, 4 \n", [[1, 2], [3, 4]]),
    "UTC offsets compared in UTC": (
        "date,a,b\n2020-01-01 01:00+01:00,1,2\n2020-01-01 00:30+00:00,3,4\n",
        [[1, 2], [3, 4]],
    ),
    "a Latin-1 letter in the header": ("date,temp \xb0C,b\n2020-01-01,1,2\n", [[1, 2]]),
    "exchange_rate date style": (
        "date,a,b\n1990/1/1 0:00,1,2\n1990/1/2 0:00,3,4\n",
        [[1, 2], [3, 4]],
    ),
    "float32 extremes": ("date,a,b\n2020-01-01,3.4e38,-1e-45\n", [[3.4e38, -1e-45]]),
}


@pytest.mark.parametrize("case", list(GOOD_FILES), ids=list(GOOD_FILES))
def test_accepted_variants(tmp_path: Path, case: str) -> None:
    text, expected = GOOD_FILES[case]
    path = tmp_path / "ok.csv"
    path.write_bytes(text.encode("latin-1"))
    table = read_table(path)
    np.testing.assert_array_equal(table.values, np.asarray(expected, dtype=np.float32))


def test_gzip_csv_is_read(tmp_path: Path, good_csv: str) -> None:
    path = tmp_path / "series.csv.gz"
    path.write_bytes(gzip.compress(good_csv.encode()))
    assert read_table(path).values.tolist() == [[1, 2], [3, 4]]


# rows and columns (without the date) as data/README.md lists them
SHAPES = {
    "etth1": (17420, 7),
    "etth2": (17420, 7),
    "ettm1": (69680, 7),
    "ettm2": (69680, 7),
    "weather": (52696, 21),
    "illness": (966, 7),
    "exchange": (7588, 8),
}


@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.dataset(n)) for n in SHAPES])
def test_benchmark_files_pass_validation(name: str, data_dir: Path) -> None:
    path = data_dir / REGISTRY[name].file
    assert read_table(path, name).values.shape == SHAPES[name]


def _table(tmp_path: Path, rows: int, columns: str = "a,b,OT") -> Path:
    names = columns.split(",")
    lines = [f"date,{columns}"]
    for i in range(rows):
        lines.append(
            f"2020-01-01 {i // 60:02d}:{i % 60:02d},"
            + ",".join(f"{math.sin(i / 7 + k):.5f}" for k in range(len(names)))
        )
    path = tmp_path / "t.csv"
    path.write_text("\n".join(lines) + "\n")
    return path


def _spec(**kw: object) -> DataSpec:
    return DataSpec(
        **{"dset": "custom", "root_path": None, "data_path": None, "context_points": 16, **kw}
    )


def test_too_short_for_the_window_names_the_value(tmp_path: Path) -> None:
    table = read_table(_table(tmp_path, 100))  # 70 training rows
    prepare(table, _spec(context_points=64))
    with pytest.raises(TsvqError, match="70 rows, too short for context_points=80"):
        prepare(table, _spec(context_points=80))


@pytest.mark.parametrize("features", ["S", "MS"])
def test_missing_target_column_is_named(tmp_path: Path, features: str) -> None:
    table = read_table(_table(tmp_path, 200, "a,b"))
    with pytest.raises(TsvqError, match="target column 'OT' not in the data; columns are a, b"):
        prepare(table, _spec(features=features))


def test_features_m_without_target_keeps_file_order() -> None:
    assert select_columns(["a", "b"], "custom", "M", "OT") == [0, 1]
    assert select_columns(["a", "OT", "b"], "custom", "M", "OT") == [0, 2, 1]


def test_channel_out_of_range(tmp_path: Path) -> None:
    table = read_table(_table(tmp_path, 200))
    with pytest.raises(TsvqError, match="channel=3 is out of range.*allowed 0..2"):
        prepare(table, _spec(channel=3))


# ---- property-based: the reader either returns the numbers written or says what is wrong ----

finite32 = st.floats(allow_nan=False, allow_infinity=False, width=32)


@st.composite
def tables(draw: st.DrawFn) -> tuple[list[str], np.ndarray, list[int]]:
    n_cols = draw(st.integers(1, 4))
    n_rows = draw(st.integers(1, 12))
    values = np.asarray(
        draw(
            st.lists(
                st.lists(finite32, min_size=n_cols, max_size=n_cols),
                min_size=n_rows,
                max_size=n_rows,
            )
        ),
        dtype=np.float32,
    )
    steps = draw(st.lists(st.integers(0, 3), min_size=n_rows, max_size=n_rows))  # 0: repeat
    names = [f"c{j}" for j in range(n_cols)]
    return names, values, list(np.cumsum(steps))


def _write(path: Path, names: list[str], values: np.ndarray, hours: list[int]) -> None:
    lines = ["date," + ",".join(names)]
    for h, row in zip(hours, values, strict=True):
        stamp = np.datetime64("2021-03-01T00:00") + np.timedelta64(int(h), "h")
        lines.append(f"{str(stamp).replace('T', ' ')}," + ",".join(repr(float(v)) for v in row))
    path.write_text("\n".join(lines) + "\n")


SETTINGS = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@SETTINGS
@given(tables())
def test_valid_tables_round_trip(tmp_path: Path, t: tuple) -> None:
    names, values, hours = t
    path = tmp_path / "p.csv"
    _write(path, names, values, hours)
    table = read_table(path)
    assert table.columns == names
    np.testing.assert_array_equal(table.values, values)
    assert (np.diff(table.dates) >= np.timedelta64(0)).all()


BAD_CELLS = st.sampled_from(
    [
        "",
        " ",
        "nan",
        "NaN",
        "inf",
        "-inf",
        "Infinity",
        "abc",
        "1,5",
        "--1",
        "0x1p3",
        "1e39",
        "-1e309",
        "None",
        "NA",
        "#N/A",
    ]
)


@SETTINGS
@given(tables(), st.data(), BAD_CELLS)
def test_one_bad_cell_is_found_and_named(
    tmp_path: Path, t: tuple, data: st.DataObject, bad: str
) -> None:
    names, values, hours = t
    i = data.draw(st.integers(0, len(values) - 1))
    j = data.draw(st.integers(0, len(names) - 1))
    path = tmp_path / "p.csv"
    _write(path, names, values, hours)
    lines = path.read_text().splitlines()
    cells = lines[i + 1].split(",")
    cells[j + 1] = bad
    lines[i + 1] = ",".join(cells)
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(TsvqError) as info:
        read_table(path)
    message = str(info.value)
    assert "\n" not in message
    if "," not in bad:  # "1,5" adds a field: a parse error instead of a cell error
        assert f"data row {i + 1}" in message and f"'c{j}'" in message, message


@SETTINGS
@given(tables(), st.data())
def test_dates_out_of_order_are_refused(tmp_path: Path, t: tuple, data: st.DataObject) -> None:
    names, values, hours = t
    if len(set(hours)) < 2:
        return
    hours = data.draw(st.permutations(hours))
    path = tmp_path / "p.csv"
    _write(path, names, values, hours)
    if all(a <= b for a, b in zip(hours, hours[1:], strict=False)):
        read_table(path)
    else:
        with pytest.raises(TsvqError, match="dates go backwards"):
            read_table(path)


@SETTINGS
@given(
    st.one_of(
        st.binary(max_size=300),
        st.text(string.printable, max_size=300).map(str.encode),
        st.lists(
            st.sampled_from(
                ["date", "2020-01-01", ",", "1", "x", "\n", "nan", "\r\n", '"', "\x00", "\xff"]
            ),
            max_size=40,
        ).map(lambda xs: "".join(xs).encode("utf-8")),
    )
)
def test_arbitrary_bytes_give_a_table_or_one_clear_error(tmp_path: Path, blob: bytes) -> None:
    path = tmp_path / "p.csv"
    path.write_bytes(blob)
    try:
        table = read_table(path)
    except TsvqError as exc:
        assert "\n" not in str(exc)
        return
    assert table.values.dtype == np.float32 and np.isfinite(table.values).all()
    assert table.values.shape[0] >= 1 and table.values.shape[1] >= 1
    # a file whose first data cell is a number has no date column: its rows are numbered
    assert table.dates is None or len(table.dates) == table.values.shape[0]


def test_fast_path_hands_every_bad_file_to_the_validating_reader(
    tmp_path: Path, bad_file: tuple[bytes, str]
) -> None:
    """The fast path either declines (None) or, for dates, raises the same message."""
    content, needle = bad_file
    path = tmp_path / "bad.csv"
    path.write_bytes(content)
    try:
        assert _read_fast(open_source(path)) is None
    except TsvqError as exc:  # refused before parsing, or by the shared date rules
        assert needle in str(exc)


@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.dataset(n)) for n in SHAPES])
def test_fast_path_equals_the_validating_reader(name: str, data_dir: Path) -> None:
    path = data_dir / REGISTRY[name].file
    source = open_source(path, name)
    fast, strict = _read_fast(source), _read_strict(source)
    assert fast is not None, "a clean benchmark file fell back to the slow reader"
    np.testing.assert_array_equal(fast.values, strict.values)
    np.testing.assert_array_equal(fast.dates, strict.dates)
    assert fast.columns == strict.columns
