"""Cells of a data file as text -> values and dates: one number check and one date check for
every reader (the whole table, the streamed one, a file read by columns)."""

from __future__ import annotations

import contextlib
import csv
import itertools
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd

from tsvq.data.registry import REGISTRY
from tsvq.data.source import Source
from tsvq.errors import TsvqError, one_line

F32_MAX = float(np.finfo(np.float32).max)


# ---- cells as text: one reader, one text per fault --------------------------------------------

_READ_ERRORS = (pd.errors.ParserError, UnicodeDecodeError, ValueError, OSError, EOFError)


def text_chunks(
    source: Source, usecols: list[int] | None = None, chunk_rows: int | None = None
) -> Iterator[pd.DataFrame]:
    """Every cell of the file (or of columns `usecols`) as text, in blocks of `chunk_rows` rows
    (None: the whole file as one block): what every reader parses with `parse_values` and
    `parse_dates`. A file pandas cannot read is one line, the same for every reader."""
    try:
        read = pd.read_csv(
            source.buffer(),
            dtype=str,
            keep_default_na=False,
            usecols=usecols,
            encoding_errors="replace",
            compression=source.compression,
            chunksize=chunk_rows,
        )
        yield from (read if chunk_rows is not None else [read])
    except pd.errors.EmptyDataError:
        raise TsvqError(f"data file is empty: {source.path}") from None
    except _READ_ERRORS as exc:
        raise TsvqError(f"cannot parse CSV {source.path}: {one_line(exc, 200)}") from None


def read_text(source: Source) -> pd.DataFrame:
    """The whole file as text (`text_chunks` in one block); a file with a header alone is
    refused."""
    frame = next(text_chunks(source))
    check_rows(source.path, len(frame))
    return frame


def check_columns(path: Path, n_columns: int, dated: bool) -> None:
    """A file needs a value column (after its date column, if it has one)."""
    if n_columns < 1 + dated:
        raise TsvqError(
            f"{path}: needs a date column and at least one value column, got {n_columns} column(s)"
        )


def check_rows(path: Path, n_rows: int) -> None:
    if n_rows == 0:
        raise TsvqError(f"{path}: has a header but no data rows")


# ---- cells ----------------------------------------------------------------------------------

_GAP = r"|[+-]?(?:nan|inf|infinity)"  # a blank cell, NaN or inf: no value, where --missing fills
# what a refusal adds where the command has the flag that helps (train, encode)
FILL_HINT = " (or --missing interpolate to fill gaps)"
CHOOSE_HINT = "; choose the value columns with --columns, or leave this one out with --exclude"


def parse_values(
    block: pd.DataFrame,
    path: Path,
    first_row: int,
    gaps: bool = False,
    hint: str = "",
    text_hint: str = "",
) -> np.ndarray:
    """Text cells [rows, C] -> float32, one rule for every reader.

    A blank cell, `nan` or `inf` is a gap: NaN when `gaps`, else refused (`hint` says how to
    fill gaps instead). A cell that is no number (`text_hint` says how to leave its column
    out), and a number beyond float32 (`4e38` and `1e400` alike: neither is a gap), is always
    refused. The line names the column, the 1-based data row (`first_row` rows precede the
    block) and the cell.
    """
    out = np.empty(block.shape, dtype=np.float32)
    for j, name in enumerate(block.columns):
        col = block[name].fillna("").str.strip()
        num = pd.to_numeric(col, errors="coerce").to_numpy(dtype=np.float64)
        gap = col.str.fullmatch(_GAP, case=False).to_numpy(dtype=bool)
        with np.errstate(invalid="ignore"):
            huge = ~gap & ~np.isnan(num) & ~(np.abs(num) <= F32_MAX)
        text = ~gap & np.isnan(num)
        bad = text | huge | (gap & (not gaps))
        if bad.any():
            i = int(np.argmax(bad))
            cell = col.iloc[i]
            what = "a blank cell" if cell == "" else repr(cell[:40])
            where = f"{path}: column {name!r} data row {first_row + i + 1} holds {what}"
            if huge[i]:
                raise TsvqError(
                    f"{where}, outside the float32 range (|x| <= {F32_MAX:.4g}) tsvq computes in"
                )
            raise TsvqError(
                f"{where}; every value must be a finite number{text_hint if text[i] else hint}"
            )
        out[:, j] = np.where(gap, np.nan, num)
    return out


# ---- dates ----------------------------------------------------------------------------------


def parse_dates(
    col: pd.Series, path: Path, first_row: int = 0, before: tuple[np.datetime64, str] | None = None
) -> np.ndarray:
    """Text cells of the date column -> datetime64, one rule for every reader: each cell a
    date, and no date before the one above it (`before`: the last date and its text of the
    rows read before this block, which start after `first_row` rows). Repeated timestamps are
    accepted (the benchmark weather file carries one exact duplicate row); dates with a UTC
    offset (even mixed ones) are compared in UTC, naive dates as they are."""
    text = col.fillna("").astype(str).str.strip()
    parsed = pd.to_datetime(text, errors="coerce", format="mixed", utc=True)
    bad = parsed.isna().to_numpy()
    if bad.any():
        i = int(np.argmax(bad))
        raise TsvqError(
            f"{path}: first column {col.name!r} data row {first_row + i + 1} holds "
            f"{text.iloc[i][:40]!r}, not a date"
        )
    stamps = parsed.dt.tz_localize(None).to_numpy()
    cells = list(text)
    if before is not None:
        stamps, cells = np.concatenate([[before[0]], stamps]), [before[1], *cells]
    back = np.flatnonzero(stamps[1:] < stamps[:-1])
    if back.size:
        i = int(back[0]) + 1  # in `stamps`: the row that goes back
        row = first_row + i + (0 if before is not None else 1)
        raise TsvqError(
            f"{path}: dates go backwards at data row {row} ({cells[i]!r} after "
            f"{cells[i - 1]!r}); rows must be in time order"
        )
    return stamps[1:] if before is not None else stamps


def first_column_is_dates(source: Source, dset: str | None) -> bool:
    """Whether the file's first column holds dates: always for a registered dataset; for a
    user's own file, unless its first data cell is a number (then the file has no date column
    and its rows are numbered)."""
    if dset and dset in REGISTRY:
        return True
    try:
        with contextlib.closing(source.text()) as fh:
            rows = [r for r in itertools.islice(csv.reader(fh), 8) if r][:2]
    except (OSError, EOFError, csv.Error):
        return True  # the readers say what is wrong with such a file
    if len(rows) < 2 or not rows[1]:
        return True
    cell = rows[1][0].strip()
    return not cell or bool(np.isnan(pd.to_numeric(pd.Series([cell]), errors="coerce")[0]))
