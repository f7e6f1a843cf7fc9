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

from tsvq.data.table import F32_MAX, _check_text, check_header
from tsvq.errors import TsvqError, one_line

# Cells pandas parses at once, as text (about 60-100 bytes a cell): rows per chunk are this
# divided by the columns read, so a wide file (electricity's 321 columns) stays as bounded.
CHUNK_CELLS = 1 << 20


def rows_per_chunk(n_columns: int) -> int:
    return max(1, CHUNK_CELLS // max(n_columns, 1))


@dataclass(frozen=True)
class CsvLayout:
    """What one pass over the date column tells: value column names, row count, compression."""

    path: Path
    columns: list[str]
    n_rows: int
    compression: str | None


def _chunks(
    layout_path: Path, compression: str | None, usecols: list[int] | None, chunk_rows: int
) -> Iterator[pd.DataFrame]:
    try:
        yield from pd.read_csv(
            layout_path,
            dtype=str,
            keep_default_na=False,
            usecols=usecols,
            encoding_errors="replace",
            compression=compression,
            chunksize=chunk_rows,
        )
    except pd.errors.EmptyDataError:
        raise TsvqError(f"data file is empty: {layout_path}") from None
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError, OSError, EOFError) as exc:
        raise TsvqError(f"cannot parse CSV {layout_path}: {one_line(exc, 200)}") from None


def scan(path: Path, chunk_rows: int | None = None) -> CsvLayout:
    """Count the rows of a CSV (date column first) and check its dates parse and never go back."""
    if not path.exists():
        raise TsvqError(f"data file not found: {path}")
    if path.is_dir():
        raise TsvqError(f"data path is a directory, expected a CSV file: {path}")
    compression = _check_text(path)
    check_header(path, path, compression)
    header = pd.read_csv(path, nrows=0, compression=compression, encoding_errors="replace")
    if header.shape[1] < 2:
        raise TsvqError(
            f"{path}: needs a date column and at least one value column, got "
            f"{header.shape[1]} column(s)"
        )
    n, last = 0, None
    for block in _chunks(path, compression, [0], chunk_rows or rows_per_chunk(1)):
        col = block.iloc[:, 0].fillna("").str.strip()
        stamps = pd.to_datetime(col, errors="coerce", format="mixed", utc=True)
        bad = stamps.isna().to_numpy()
        if bad.any():
            i = int(np.argmax(bad))
            raise TsvqError(
                f"{path}: first column data row {n + i + 1} holds {col.iloc[i][:40]!r}, not a date"
            )
        t = stamps.dt.tz_localize(None).to_numpy()
        if last is not None:
            t = np.concatenate([[last], t])
        back = np.flatnonzero(t[1:] < t[:-1])
        if back.size:
            i = n + int(back[0]) + (0 if last is not None else 1)
            raise TsvqError(
                f"{path}: dates go backwards at data row {i + 1}; rows must be in time order"
            )
        n, last = n + len(block), t[-1]
    if n == 0:
        raise TsvqError(f"{path}: has a header but no data rows")
    return CsvLayout(path, [str(c) for c in header.columns[1:]], n, compression)


def parse_values(block: pd.DataFrame, path: Path, first_row: int, gaps: bool) -> np.ndarray:
    """Text cells [rows, C] -> float32; `gaps`: blank, NaN and inf cells become NaN, else refused.

    Text that is no number is always refused, with its column and 1-based data row.
    """
    out = np.empty(block.shape, dtype=np.float32)
    for j, name in enumerate(block.columns):
        col = block[name].fillna("").str.strip()
        num = pd.to_numeric(col, errors="coerce").to_numpy(dtype=np.float64)
        text = np.isnan(num) & ~col.str.fullmatch(r"|[+-]?nan", case=False).to_numpy()
        bad = text if gaps else ~np.isfinite(num)
        huge = np.isfinite(num) & (np.abs(num) > F32_MAX)
        for mask, why in (
            (bad, "every value must be a finite number"),
            (huge, f"outside the float32 range (|x| <= {F32_MAX:.4g}) tsvq computes in"),
        ):
            if mask.any():
                i = int(np.argmax(mask))
                cell = col.iloc[i]
                what = "a blank cell" if cell == "" else repr(cell[:40])
                hint = "" if gaps or mask is huge else " (or --missing interpolate to fill gaps)"
                raise TsvqError(
                    f"{path}: column {name!r} data row {first_row + i + 1} holds "
                    f"{what}; {why}{hint}"
                )
        out[:, j] = np.where(np.isfinite(num), num, np.nan)
    return out


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
            layout.path,
            layout.compression,
            [c + 1 for c in self._use],
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
            vals = parse_values(block, self.layout.path, max(first, lo), self.gaps)
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
