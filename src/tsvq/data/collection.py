"""A collection of series: what every data path starts from, windowed series by series.

A benchmark CSV is a collection of one series; a user's panel (a list of arrays, a long table
with an id column) is a collection of many. Each series is split by the chronological rule on
its own and cut into windows on its own, so no window ever spans two series (`WindowView`
keeps the windows of a split zero-copy views of its rows all the same).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from tsvq.errors import TsvqError


@dataclass(frozen=True)
class SeriesCollection:
    """Series that share their columns: each `series[i]` is [T_i, C] float32, with
    `names[i]` and optional `timestamps[i]` ([T_i] datetime64, or None for row numbers).

    `sha256` is the digest of the file read, or (made in memory) of the values themselves.
    """

    series: tuple[np.ndarray, ...]
    columns: tuple[str, ...]
    names: tuple[str, ...]
    timestamps: tuple[np.ndarray | None, ...]
    sha256: str | None = None

    def __post_init__(self) -> None:
        if not self.series:
            raise TsvqError("no series given: a collection needs at least one")
        c = len(self.columns)
        if len(self.names) != len(self.series) or len(self.timestamps) != len(self.series):
            raise ValueError("one name and one timestamps entry per series")
        if len(set(self.columns)) != c:
            twice = sorted({n for n in self.columns if self.columns.count(n) > 1})
            raise TsvqError(f"column names given twice: {', '.join(map(repr, twice))}")
        for name, s, t in zip(self.names, self.series, self.timestamps, strict=True):
            if s.ndim != 2 or s.shape[1] != c:
                raise TsvqError(
                    f"series {name!r} has shape {s.shape}; expected [T, {c}] for the "
                    f"columns {', '.join(self.columns)}"
                )
            if t is not None and len(t) != len(s):
                raise ValueError(f"series {name!r}: {len(t)} timestamps for {len(s)} rows")

    @classmethod
    def of(
        cls,
        series: Sequence[np.ndarray],
        columns: Sequence[str],
        names: Sequence[str] | None = None,
        timestamps: Sequence[np.ndarray | None] | None = None,
        sha256: str | None = None,
    ) -> SeriesCollection:
        """A collection made in memory; `sha256` defaults to the digest of the values."""
        arrays = tuple(np.asarray(s, dtype=np.float32) for s in series)
        return cls(
            arrays,
            tuple(str(c) for c in columns),
            tuple(str(n) for n in names) if names is not None else _default_names(len(arrays)),
            tuple(timestamps) if timestamps is not None else (None,) * len(arrays),
            sha256 or values_sha256(arrays, columns),
        )

    @property
    def lengths(self) -> list[int]:
        return [len(s) for s in self.series]

    def __len__(self) -> int:
        return len(self.series)


def _default_names(n: int) -> tuple[str, ...]:
    return tuple(str(i) for i in range(n))


def values_sha256(series: Sequence[np.ndarray], columns: Sequence[str]) -> str:
    """The digest of data made in memory: the column names, each series' shape and values, so
    a run record names its data by digest as it names a file's."""
    h = hashlib.sha256()
    h.update("\0".join(map(str, columns)).encode("utf-8"))
    for s in series:
        a = np.ascontiguousarray(s, dtype=np.float32)
        h.update(np.asarray(a.shape, np.int64).tobytes())
        h.update(a.tobytes())
    return h.hexdigest()


# ---- windows within series -----------------------------------------------------------------


def window_starts(offsets: np.ndarray, length: int) -> np.ndarray:
    """Row of each window of `length` rows in rows cut into series at `offsets` ([0, ...,
    rows]): every start whose window ends inside its own series, series by series."""
    parts = [np.arange(a, b - length + 1) for a, b in zip(offsets[:-1], offsets[1:], strict=True)]
    return np.concatenate(parts).astype(np.int64) if parts else np.empty(0, np.int64)


def count_windows(offsets: np.ndarray, length: int) -> int:
    return int(np.maximum(np.diff(offsets) - length + 1, 0).sum())


class WindowView:
    """The windows [n_windows, C, length] of rows holding several series, none across two: it
    indexes like the array of a single series' windows (an integer, a slice, an index array,
    and a second index for the channel), and gathers only the windows asked for."""

    def __init__(self, rows: np.ndarray, offsets: np.ndarray, length: int) -> None:
        self._view = sliding_window_view(rows, length, axis=0)  # [rows - length + 1, C, length]
        self._starts = window_starts(offsets, length)
        self.shape = (len(self._starts), rows.shape[1], length)

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, key: Any) -> np.ndarray:
        first, rest = (key[0], key[1:]) if isinstance(key, tuple) else (key, ())
        return self._view[(self._starts[first],) + tuple(rest)]

    def __array__(self, dtype: object = None, copy: object = None) -> np.ndarray:
        out = self._view[self._starts]
        return out if dtype is None else out.astype(dtype)

    def start(self, w: int) -> int:
        """The row (in the split's rows) window `w` starts at."""
        return int(self._starts[w])


Windows = np.ndarray | WindowView  # a split's windows: a view of one series', or of several
