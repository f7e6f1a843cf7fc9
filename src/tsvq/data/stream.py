"""Read a long CSV in bounded memory: one pass for its layout, then row ranges chunk by chunk.

The file is never held whole: `scan` reads only the date column, chunk by chunk, to count rows
and check the dates; `RowReader` then parses the value columns a chunk at a time and keeps only
the rows a caller still needs (ranges must move forward, as sliding windows do).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from tsvq.data.cells import (
    FILL_HINT,
    check_columns,
    check_rows,
    first_column_is_dates,
    parse_dates,
    parse_values,
    text_chunks,
)
from tsvq.data.registry import CUSTOM, missing_hint
from tsvq.data.source import Source, open_source
from tsvq.errors import TsvqError, one_line

# Cells pandas parses at once, as text (about 60-100 bytes a cell): rows per chunk are this
# divided by the columns read, so a wide file (electricity's 321 columns) stays as bounded.
CHUNK_CELLS = 1 << 20


def rows_per_chunk(n_columns: int) -> int:
    return max(1, CHUNK_CELLS // max(n_columns, 1))


@dataclass(frozen=True)
class CsvLayout:
    """What one pass over the date column tells: value column names and the row count, of a
    file that passed the door (`source`)."""

    source: Source
    columns: list[str]
    n_rows: int
    dated: bool = True  # the first column holds dates (else the file has none)

    @property
    def path(self) -> Path:
        return self.source.path


_READ_ERRORS = (pd.errors.ParserError, UnicodeDecodeError, ValueError, OSError, EOFError)


def _chunks(source: Source, usecols: list[int] | None, chunk_rows: int) -> Iterator[pd.DataFrame]:
    return text_chunks(source, usecols, chunk_rows)


def scan(
    path: Path, dset: str = CUSTOM, chunk_rows: int | None = None, sha256: str | None = None
) -> CsvLayout:
    """Check a CSV at the door (`open_source`, as every reader does), count its rows and check
    its dates parse and never go back (a user's file may have no date column, as for
    `table.read_table`); `sha256`: the digest a run recorded for the file."""
    source = open_source(path, dset, missing_hint(dset), sha256)
    dated = first_column_is_dates(source, dset)
    try:
        header = pd.read_csv(
            source.buffer(),
            nrows=0,
            compression=source.compression,
            encoding_errors="replace",
        )
    except pd.errors.EmptyDataError:
        raise TsvqError(f"data file is empty: {path}") from None
    except _READ_ERRORS as exc:
        raise TsvqError(f"cannot parse CSV {path}: {one_line(exc, 200)}") from None
    check_columns(path, header.shape[1], dated)
    n, last = 0, None
    for block in _chunks(source, [0], chunk_rows or rows_per_chunk(1)):
        if dated:
            stamps = parse_dates(block.iloc[:, 0], path, n, last)
            last = (stamps[-1], str(block.iloc[-1, 0]).strip())
        n += len(block)
    check_rows(path, n)
    return CsvLayout(source, [str(c) for c in header.columns[int(dated) :]], n, dated)


class RowReader:
    """Rows [lo, hi) of chosen value columns, for ranges whose `lo` never moves back."""

    def __init__(
        self, layout: CsvLayout, cols: list[int], gaps: bool, chunk_rows: int | None = None
    ) -> None:
        self.layout, self.cols, self.gaps = layout, cols, gaps
        # usecols keeps file order; `order` puts the columns back in the order asked for
        self._use = sorted(set(cols))
        self._order = [self._use.index(c) for c in cols]
        self._chunks = _chunks(
            layout.source,
            [c + int(layout.dated) for c in self._use],
            chunk_rows or rows_per_chunk(len(self._use)),
        )
        self._buf = np.empty((0, len(cols)), np.float32)
        self._buf_lo = 0  # file row of self._buf[0]
        self._read = 0  # rows parsed so far

    def rows(self, lo: int, hi: int) -> np.ndarray:
        """Values [hi - lo, C] float32 (NaN at gaps when `gaps`)."""
        if lo < self._buf_lo or hi > self.layout.n_rows:
            raise ValueError(f"rows [{lo}, {hi}) out of order or range")
        parts = [self._buf[lo - self._buf_lo :]] if lo < self._read else []
        while self._read < hi:
            block = next(self._chunks)
            first, self._read = self._read, self._read + len(block)
            if self._read <= lo:
                continue  # wholly before the range: parsed for its rows' count only
            block = block.iloc[max(0, lo - first) :]
            vals = parse_values(block, self.layout.path, max(first, lo), self.gaps, FILL_HINT)
            parts.append(vals[:, self._order])
        self._buf = np.concatenate(parts) if len(parts) > 1 else parts[0]
        self._buf_lo = lo
        return self._buf[: hi - lo]


def fit_standard(
    layout: CsvLayout, cols: list[int], lo: int, hi: int, gaps: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Mean and standard deviation [C] of rows [lo, hi), read chunk by chunk; gaps are skipped.

    A column that is constant (or has no finite value) gets scale 1, as `Scaler.fit` gives.
    """
    reader = RowReader(layout, cols, gaps)
    count = np.zeros(len(cols))
    total = np.zeros(len(cols))
    squares = np.zeros(len(cols))
    ref = None  # sums are taken around a reference value, so the variance does not cancel away
    step = rows_per_chunk(len(cols))
    for r in range(lo, hi, step):
        v = reader.rows(r, min(hi, r + step)).astype(np.float64)
        ok = np.isfinite(v)
        if ref is None:
            ref = np.nan_to_num(np.nanmedian(np.where(ok, v, np.nan), axis=0))
        d = np.where(ok, v - ref, 0.0)
        count += ok.sum(axis=0)
        total += d.sum(axis=0)
        squares += (d * d).sum(axis=0)
    n = np.maximum(count, 1)
    mean = total / n
    std = np.sqrt(np.maximum(squares / n - mean * mean, 0.0))
    shift = np.where(count > 0, mean + (ref if ref is not None else 0.0), 0.0)
    return shift.astype(np.float32), np.where(std > 0, std, 1.0).astype(np.float32)
