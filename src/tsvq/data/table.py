"""A whole CSV read into memory and validated: the table `train`, `eval` and `plot` work on.

The file first passes the door (`source.open_source`); pandas' float parser then reads it
straight into float32, a block of rows at a time; only when that finds something unusual does
the validating reader (every cell as text, judged by `source.parse_values`) read it again, to
name the row, column and cell.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from tsvq.data.cells import (
    check_columns,
    check_rows,
    first_column_is_dates,
    parse_dates,
    parse_values,
    text_chunks,
)
from tsvq.data.registry import CUSTOM, missing_hint
from tsvq.data.source import Source, open_source


@dataclass
class Table:
    """A validated series: values [rows, channels] float32, with its column names and dates
    (None for a file without a date column: its rows are numbered), and the sha256 of the file
    it was read from (None for a table made in memory)."""

    values: np.ndarray
    columns: list[str]
    dates: np.ndarray | None
    sha256: str | None = None


def read_table(
    path: Path,
    dset: str = CUSTOM,
    sha256: str | None = None,
    gaps: bool = False,
    hints: tuple[str, str] = ("", ""),
) -> Table:
    """Read and validate an Autoformer-layout CSV: a date column, then numeric columns (a
    user's own file may have no date column: `source.first_column_is_dates`).

    Rules (one clear error for each, see docs/robustness.md): the door's checks (`open_source`:
    a regular text file, plain or gzip-compressed, a registered dataset's own bytes, a header
    naming each column once, no row longer than it; `sha256`, when given, the digest the file
    must have); at least one data row and one value column; every value cell a finite number
    within float32 range; the dates parse and never go backwards. Repeated timestamps are
    accepted, since the benchmark weather file carries one exact duplicate row. Dates with a
    UTC offset are compared in UTC. `gaps`: a blank, NaN or inf cell is NaN, not refused
    (`--missing interpolate`); `hints`: what a refused gap and a refused text cell add (the
    flags of the command that help, `cells.FILL_HINT` and `cells.CHOOSE_HINT`).
    """
    source = open_source(path, dset, missing_hint(dset), sha256)
    dated = first_column_is_dates(source, dset)
    table = _read_fast(source, dated) or _read_strict(source, dated, gaps, hints)
    table.sha256 = source.sha256
    return table


_READ_ERRORS = (pd.errors.ParserError, UnicodeDecodeError, ValueError, OSError, EOFError)
FAST_CHUNK_ROWS = 4096  # rows parsed at a time: memory stays near the float32 result's size


def _read_fast(source: Source, dated: bool = True) -> Table | None:
    """Read with pandas' float parser straight into float32, a block of rows at a time.

    None when anything is unusual (a blank or text cell, NaN, inf, a value beyond float32, a
    malformed row, a numeric date column): the validating reader then names it.
    """
    kw = {"encoding_errors": "replace", "compression": source.compression}
    try:
        header = pd.read_csv(source.buffer(), nrows=0, **kw).columns
        first = int(dated)  # the first value column
        if len(header) < first + 1:
            return None
        # float32 parsing rounds the parsed float64, as the validating reader does
        dtypes = {c: np.float32 for c in header[first:]}
        if dated:
            dtypes[header[0]] = str
        blocks, dates = [], []
        # a value beyond float32 becomes inf (refused below), not a warning on the console
        with (
            np.errstate(over="ignore", invalid="ignore"),
            pd.read_csv(source.buffer(), dtype=dtypes, chunksize=FAST_CHUNK_ROWS, **kw) as chunks,
        ):
            for chunk in chunks:
                if chunk.shape[1] != len(header) or dated and chunk.iloc[:, 0].isna().any():
                    return None
                block = chunk.iloc[:, first:].to_numpy(dtype=np.float32)
                if not np.isfinite(block).all():  # NaN, a blank, inf, or beyond float32
                    return None
                blocks.append(block)
                dates.append(chunk.iloc[:, 0])
    except (pd.errors.EmptyDataError, *_READ_ERRORS):
        return None
    values = np.concatenate(blocks) if blocks else np.empty((0, 0), np.float32)
    if values.shape[0] == 0:
        return None
    del blocks
    columns = [str(c) for c in header[first:]]
    if not dated:
        return Table(values=values, columns=columns, dates=None)
    date_col = pd.concat(dates, ignore_index=True).astype(str)
    return Table(values=values, columns=columns, dates=parse_dates(date_col, source.path))


def _read_strict(
    source: Source, dated: bool = True, gaps: bool = False, hints: tuple[str, str] = ("", "")
) -> Table:
    """Every cell as text, validated one by one: names the first bad row, column and cell."""
    path = source.path
    frame = next(text_chunks(source))
    first = int(dated)
    check_columns(path, frame.shape[1], dated)
    check_rows(path, len(frame))
    columns = [str(c) for c in frame.columns[first:]]
    # a row with fewer fields than the header leaves NaN in the missing cells: blank cells
    values = parse_values(frame.iloc[:, first:], path, 0, gaps, *hints)
    dates = parse_dates(frame.iloc[:, 0], path) if dated else None
    return Table(values=values, columns=columns, dates=dates)
