"""A data file read as its run says: the series of a benchmark CSV, or of a user's own CSV or
Parquet file, wide or long, its value columns chosen by `--columns` / `--exclude`.

A benchmark's file, and a user's CSV read whole without a choice of columns, is the table
`table.read_table` reads (the benchmarks' windows, splits and lines stay as they were). A
user's file read with a choice (`DataSpec.reads_layout`) or in Parquet passes the same door
(`source.open_source`), and its chosen value columns the same number check
(`cells.parse_values`); the columns it leaves out are never parsed, so a label column does not
stop a run that excludes it. A long file (`--id_column`) is one series per id
(`convert.to_collection`: ids in the order they first appear, timestamps in order within each).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pandas as pd

from tsvq.data.cells import (
    CHOOSE_HINT,
    FILL_HINT,
    first_column_is_dates,
    parse_dates,
    parse_values,
    read_text,
)
from tsvq.data.collection import SeriesCollection
from tsvq.data.convert import TIMESTAMP_NAMES, to_collection
from tsvq.data.registry import CUSTOM, REGISTRY, missing_hint
from tsvq.data.source import Source, is_parquet, open_source
from tsvq.data.spec import DataSpec
from tsvq.data.table import Table, read_table
from tsvq.errors import TsvqError, one_line

PARQUET_EXTRA = "pip install 'tsvq[parquet]'"


def read_series(
    path: Path, spec: DataSpec, sha256: str | None = None, hints: bool = False
) -> Table | SeriesCollection:
    """The series file `path` holds, read as `spec` says (its layout flags and `missing`).

    `sha256`, when given, is the digest the file must have (a run's record); `hints`: the
    command has train's data flags, and a refusal names the one that helps (`--columns`,
    `--exclude`, `--missing`). Raises `TsvqError`, one line, for anything it cannot read.
    """
    gaps = spec.missing == "interpolate"
    fill, choose = (FILL_HINT, CHOOSE_HINT) if hints else ("", "")
    if spec.dset in REGISTRY:
        return read_table(path, spec.dset, sha256)
    parquet = path.is_file() and is_parquet(path)  # a name that lies is refused here
    if not parquet and not spec.reads_layout:
        return read_table(path, CUSTOM, sha256, gaps, (fill, choose))
    source = open_source(path, CUSTOM, missing_hint(CUSTOM), sha256)
    frame, time = _parquet(source) if parquet else _csv(source, spec, gaps, (fill, choose))
    flag = "--{} " if hints else "the run's {} "
    data = to_collection(
        frame,
        spec.id_column,
        spec.timestamp_column or time,
        spec.value_columns if parquet else None,
        spec.exclude_columns if parquet else (),
        flag,
        spec.missing,
    )
    return dataclasses.replace(data, sha256=source.sha256)


def _parquet(source: Source) -> tuple[pd.DataFrame, None]:
    """The Parquet file as pandas reads it (its own types: numbers, dates, text)."""
    try:
        return pd.read_parquet(source.raw), None
    except ImportError:
        raise TsvqError(
            f"{source.path} is a Parquet file; reading one needs a Parquet engine: "
            f"{PARQUET_EXTRA} (fastparquet), or pyarrow"
        ) from None
    except Exception as exc:  # the engines raise their own types for a damaged file
        raise TsvqError(f"cannot read the Parquet file {source.path}: {one_line(exc)}") from None


def _csv(
    source: Source, spec: DataSpec, gaps: bool, hints: tuple[str, str]
) -> tuple[pd.DataFrame, str | None]:
    """A CSV read as text, its chosen value columns parsed (the others kept as text), and the
    name of its time column (None: none)."""
    path = source.path
    text = read_text(source)
    text.columns = [str(c) for c in text.columns]
    flag = "--{} " if hints[1] else "the run's {} "
    if spec.id_column is not None and spec.id_column not in text.columns:
        raise TsvqError(
            f"{flag.format('id_column')}{spec.id_column!r} is not a column of {path}; columns "
            f"are {', '.join(text.columns)}"
        )
    time = _time_column(source, spec, list(text.columns), str(text.iloc[0, 0]))
    layout = {c for c in (spec.id_column, time) if c}
    chosen = _chosen(list(text.columns), layout, spec, flag)
    frame = text[[c for c in text.columns if c in layout]].copy()
    values = parse_values(text[chosen], path, 0, gaps, *hints)
    for j, name in enumerate(chosen):
        frame[name] = values[:, j]
    if time and not spec.id_column:  # one series: one date check, as every reader's
        frame.index = pd.DatetimeIndex(parse_dates(text[time], path))
        return frame.drop(columns=[time]), None
    return frame, time


def _time_column(source: Source, spec: DataSpec, header: list[str], first: str) -> str | None:
    """The time column: `--timestamp_column`; else a first column of dates (as every reader
    takes it, `first` its first cell) that no flag claims for another role; else one named
    timestamp, ds or date."""
    if spec.timestamp_column is not None:
        if spec.timestamp_column not in header:
            raise TsvqError(
                f"--timestamp_column {spec.timestamp_column!r} is not a column of "
                f"{source.path}; columns are {', '.join(header)}"
            )
        return spec.timestamp_column
    claimed = {spec.id_column, *spec.exclude_columns, *(spec.value_columns or ())}
    if header[0] not in claimed and first_column_is_dates(source, CUSTOM) and _a_date(first):
        return header[0]
    return next((c for c in header if c in TIMESTAMP_NAMES and c not in claimed), None)


def _a_date(cell: str) -> bool:
    """Whether a long file's first cell is a date (else its first column is, say, the id)."""
    return not pd.isna(pd.to_datetime(pd.Series([cell]), errors="coerce", format="mixed")[0])


def _chosen(header: list[str], layout: set[str], spec: DataSpec, flag: str) -> list[str]:
    """The value columns: `--columns` (else every column but the id and time), less
    `--exclude`; a name that is no column is refused."""
    given = (("columns", spec.value_columns or ()), ("exclude", spec.exclude_columns))
    for opt, names in given:
        unknown = [c for c in names if c not in header]
        if unknown:
            raise TsvqError(
                f"{flag.format(opt)}{','.join(unknown)} names no column; columns are "
                f"{', '.join(header)}"
            )
    candidates = spec.value_columns or [c for c in header if c not in layout]
    chosen = [c for c in candidates if c not in set(spec.exclude_columns)]
    if not chosen:
        raise TsvqError(f"no value column left to train on in {', '.join(header)}")
    return list(dict.fromkeys(chosen))
