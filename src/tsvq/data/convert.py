"""Series as users hold them -> a `SeriesCollection`: the inputs `tsvq.fit` takes.

numpy [T] (one channel), [T, C] (one series), [N, T, C] (N series); a wide DataFrame (dates as
its index, in a date column, or none); a long DataFrame with an id column (one series per id,
rows in time order within each); a list of arrays of any lengths (each [T_i] or [T_i, C]); a
list of dicts with a `target` (GluonTS / Chronos: [T], or [C, T] for several channels).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from tsvq.data.cells import F32_MAX
from tsvq.data.collection import SeriesCollection
from tsvq.data.gaps import Missing
from tsvq.errors import TsvqError

TIMESTAMP_NAMES = ("timestamp", "ds", "date")  # AutoGluon, Nixtla, the benchmark CSVs


def to_collection(
    data: Any,
    id_column: str | None = None,
    timestamp_column: str | None = None,
    columns: Sequence[str] | None = None,
    exclude: Sequence[str] = (),
    flag: str = "{}=",
    missing: Missing = "error",
) -> SeriesCollection:
    """The series `data` holds (see the module's docstring), as one collection.

    `id_column` reads a long DataFrame; `timestamp_column` names a DataFrame's time column
    (default: a column called timestamp, ds or date, or of datetime type, if any); `columns` /
    `exclude` choose a DataFrame's value columns. `flag` spells an option in messages ("{}="
    for keywords, "--{} " for the command line). `missing="interpolate"` keeps NaN and inf as
    gaps (NaN) for training to fill; else they are refused. A value beyond float32 is always
    refused. Raises `TsvqError` for anything else.
    """
    found = _read(data, id_column, timestamp_column, columns, exclude, flag)
    return _finite(found, flag) if missing == "error" else _gaps_as_nan(found)


def _read(
    data: Any,
    id_column: str | None,
    timestamp_column: str | None,
    columns: Sequence[str] | None,
    exclude: Sequence[str],
    flag: str,
) -> SeriesCollection:
    if isinstance(data, pd.DataFrame):
        if id_column is not None:
            return _long(data, id_column, timestamp_column, columns, exclude, flag)
        stamps, frame = _split_time(data, timestamp_column, flag)
        if stamps is not None:
            _in_order(stamps, "the DataFrame", "its rows by time")
        values, names = _values(frame, columns, exclude, flag)
        return SeriesCollection.of([values], names, timestamps=[stamps])
    if id_column is not None:
        raise TsvqError(f"{flag.format('id_column')} reads a long DataFrame; got {_kind(data)}")
    if columns is not None or exclude:
        raise TsvqError(f"{flag.format('columns').strip()} / exclude choose a DataFrame's columns")
    if isinstance(data, pd.Series):
        return SeriesCollection.of([_array(data.to_numpy(), "the Series", 1)], [str(data.name)])
    if isinstance(data, np.ndarray):
        if data.ndim == 3:
            return SeriesCollection.of(list(_array(data, "the array", 3)), _numbered(data.shape[2]))
        a = _array(data, "the array", 2)
        return SeriesCollection.of([a], _numbered(a.shape[1]))
    if isinstance(data, Sequence) and not isinstance(data, str | bytes):
        return _listed(data)
    raise TsvqError(
        f"cannot read series from {_kind(data)}: give a numpy array [T], [T, C] or [N, T, C], a "
        "DataFrame, or a list of arrays or of dicts with a 'target'"
    )


def _gaps_as_nan(data: SeriesCollection) -> SeriesCollection:
    series = tuple(np.where(np.isfinite(s), s, np.float32(np.nan)) for s in data.series)
    return dataclasses.replace(data, series=series)


def _finite(data: SeriesCollection, flag: str) -> SeriesCollection:
    """Refuse a value that is NaN or infinite (without `missing="interpolate"`)."""
    # a command that reads its run's own flags (`flag` "the run's {} ") has no flag to name
    or_fill = "" if flag.startswith("the run") else f", or {flag.format('missing')}interpolate"
    for name, s in zip(data.names, data.series, strict=True):
        bad = ~np.isfinite(s)
        if bad.any():
            row, col = (int(i) for i in np.argwhere(bad)[0])
            where = f"series {name!r}, " if len(data) > 1 else ""
            raise TsvqError(
                f"{where}column {data.columns[col]!r} row {row + 1} holds {s[row, col]}; "
                f"every value must be a finite float32 number (fill gaps first{or_fill})"
            )
    return data


def _in_order(t: np.ndarray, what: str, sort: str) -> None:
    """Refuse timestamps that go backwards (a repeated timestamp is accepted)."""
    back = np.flatnonzero(t[1:] < t[:-1])
    if back.size:
        raise TsvqError(
            f"{what}: timestamps go backwards at its row {int(back[0]) + 2} "
            f"({t[back[0] + 1]} after {t[back[0]]}); sort {sort}"
        )


def _kind(x: Any) -> str:
    return f"a {type(x).__module__}.{type(x).__qualname__}".replace("builtins.", "")


def _numbered(c: int) -> list[str]:
    return [str(j) for j in range(c)]


def _array(x: Any, what: str, ndim: int) -> np.ndarray:
    """`x` as float32 [T, C] (ndim 2, a 1-D `x` is one channel) or [N, T, C] (ndim 3)."""
    try:
        a = np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise TsvqError(f"{what} holds values that are not numbers ({exc})") from None
    if ndim == 2 and a.ndim == 1:
        a = a[:, None]
    if a.ndim != ndim:
        want = "[T] or [T, C]" if ndim == 2 else "[N, T, C]"
        raise TsvqError(f"{what} has shape {a.shape}; expected {want}")
    return _float32(a, what)


def _float32(a: np.ndarray, what: str) -> np.ndarray:
    """float64 values as float32; a finite value beyond float32's range is refused (float32
    would make it inf, which is no gap)."""
    with np.errstate(invalid="ignore"):
        huge = np.isfinite(a) & (np.abs(a) > F32_MAX)
    if huge.any():
        raise TsvqError(
            f"{what} holds {a[np.unravel_index(np.argmax(huge), a.shape)]:g}, beyond the float32 "
            f"range (|x| <= {F32_MAX:.4g}) tsvq computes in"
        )
    return a.astype(np.float32)


def _listed(items: Sequence[Any]) -> SeriesCollection:
    """A list of arrays, or of dicts with a 'target' (and optionally 'item_id' and 'start')."""
    if not items:
        raise TsvqError("the list of series is empty")
    series, names = [], []
    for i, item in enumerate(items):
        if isinstance(item, Mapping):
            if "target" not in item:
                raise TsvqError(f"series {i} is a dict without a 'target' (its keys: {list(item)})")
            t = np.asarray(item["target"])
            series.append(_array(t.T if t.ndim == 2 else t, f"series {i}'s target", 2))
            names.append(str(item.get("item_id", i)))
        else:
            series.append(_array(item, f"series {i}", 2))
            names.append(str(i))
    widths = {s.shape[1] for s in series}
    if len(widths) > 1:
        k = next(i for i, s in enumerate(series) if s.shape[1] != series[0].shape[1])
        raise TsvqError(
            f"series {k} has {series[k].shape[1]} channel(s), series 0 has "
            f"{series[0].shape[1]}; every series of a list needs the same channels"
        )
    return SeriesCollection.of(series, _numbered(series[0].shape[1]), names)


def _split_time(
    frame: pd.DataFrame, timestamp_column: str | None, flag: str
) -> tuple[np.ndarray | None, pd.DataFrame]:
    """(timestamps or None, the frame without its time column)."""
    if timestamp_column is not None:
        if timestamp_column not in frame.columns:
            raise TsvqError(
                f"{flag.format('timestamp_column')}{timestamp_column!r} is not a column; "
                f"columns are {', '.join(map(str, frame.columns))}"
            )
        name = timestamp_column
    elif isinstance(frame.index, pd.DatetimeIndex):
        return frame.index.tz_localize(None).to_numpy(), frame
    else:
        found = next(
            (
                c
                for c in frame.columns
                if str(c) in TIMESTAMP_NAMES or pd.api.types.is_datetime64_any_dtype(frame[c])
            ),
            None,
        )
        if found is None:
            return None, frame
        name = found
    stamps = pd.to_datetime(frame[name], errors="coerce", format="mixed", utc=True)
    if stamps.isna().any():
        i = int(np.argmax(stamps.isna().to_numpy()))
        raise TsvqError(f"column {name!r} row {i + 1} holds {frame[name].iloc[i]!r}, not a date")
    return stamps.dt.tz_localize(None).to_numpy(), frame.drop(columns=[name])


def _values(
    frame: pd.DataFrame, columns: Sequence[str] | None, exclude: Sequence[str], flag: str
) -> tuple[np.ndarray, list[str]]:
    """The value columns chosen, as float32 [T, C], and their names."""
    names = [str(c) for c in frame.columns]
    for opt, asked in (("columns", columns or ()), ("exclude", exclude)):
        missing = [c for c in asked if c not in names]
        if missing:
            raise TsvqError(
                f"{flag.format(opt)}{','.join(missing)} names no column; columns are "
                f"{', '.join(names)}"
            )
    chosen = [c for c in (columns if columns is not None else names) if c not in set(exclude)]
    if not chosen:
        raise TsvqError("no value column left to train on")
    frame = frame.set_axis(names, axis=1)[chosen]
    text = [c for c in chosen if not pd.api.types.is_numeric_dtype(frame[c])]
    if text:
        raise TsvqError(
            f"column {text[0]!r} is not numeric ({frame[text[0]].dtype}); choose the value "
            f"columns with {flag.format('columns').strip()} or leave it out with "
            f"{flag.format('exclude').strip()}"
        )
    return _float32(frame.to_numpy(dtype=np.float64), "the DataFrame"), chosen


def _long(
    frame: pd.DataFrame,
    id_column: str,
    timestamp_column: str | None,
    columns: Sequence[str] | None,
    exclude: Sequence[str],
    flag: str,
) -> SeriesCollection:
    """One series per id of a long DataFrame, in the order the ids first appear."""
    if id_column not in frame.columns:
        raise TsvqError(
            f"{flag.format('id_column')}{id_column!r} is not a column; columns are "
            f"{', '.join(map(str, frame.columns))}"
        )
    ids = frame[id_column]
    if ids.isna().any():
        i = int(np.argmax(ids.isna().to_numpy()))
        raise TsvqError(f"{flag.format('id_column')}{id_column!r} is blank in row {i + 1}")
    stamps, rest = _split_time(frame.drop(columns=[id_column]), timestamp_column, flag)
    values, names = _values(rest, columns, exclude, flag)
    groups = pd.Series(np.arange(len(frame))).groupby(ids.to_numpy(), sort=False).indices
    if len(groups) == len(frame) and len(frame) > 1:
        raise TsvqError(
            f"{flag.format('id_column')}{id_column!r} gives each of its {len(frame)} rows an id "
            "of its own (one row per series): is it the id column?"
        )
    series, times = [], []
    for key, rows in groups.items():
        if stamps is not None:
            t = stamps[rows]
            _in_order(t, f"series {key!r}", f"the rows by {id_column!r} and time")
            times.append(t)
        series.append(values[rows])
    return SeriesCollection.of(
        series, names, [str(k) for k in groups], times if stamps is not None else None
    )
