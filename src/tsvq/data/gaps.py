"""Gaps in training data (`--missing interpolate`): filled linearly along time, series by series,
and remembered, so that the filled values are masked out of the reconstruction error."""

from __future__ import annotations

from typing import Literal, get_args

import numpy as np

from tsvq.errors import TsvqError

Missing = Literal["error", "interpolate"]  # blank/NaN/inf cells: refused, or filled
MISSING = get_args(Missing)


def fill_series(
    values: np.ndarray, columns: tuple[str, ...], name: str = ""
) -> tuple[np.ndarray, np.ndarray]:
    """A series [T, C] with NaN/inf gaps -> (filled float32 [T, C], bool [T, C] True where
    filled).

    Inside the series a gap is the straight line between the finite values on either side; at
    either end it takes the nearest finite value. A column without any finite value has nothing
    to fill from and raises `TsvqError` naming it (and the series, `name`, when given).
    """
    ok = np.isfinite(values)
    filled = ~ok
    if not filled.any():
        return values, filled
    out = np.array(values, dtype=np.float32)
    steps = np.arange(len(values))
    for j in np.flatnonzero(filled.any(axis=0)):
        have = ok[:, j]
        if not have.any():
            where = f"series {name!r}, " if name else ""
            raise TsvqError(
                f"{where}column {columns[j]!r} has no value at all: --missing interpolate has "
                "nothing to fill its gaps from; leave the column out with --exclude"
            )
        out[~have, j] = np.interp(steps[~have], steps[have], values[have, j].astype(np.float64))
    return out, filled
