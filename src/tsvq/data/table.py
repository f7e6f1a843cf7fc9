"""Validated CSV reading: a data file into a `Table`, every problem one clear line.

pandas' own float parser reads the file first; only when that finds something unusual does the
validating reader (every cell as text) run, to name the row, column and cell.
"""

from __future__ import annotations

import csv
import gzip
import io
import itertools
from dataclasses import dataclass
from pathlib import Path
from typing import IO, cast

import numpy as np
import pandas as pd

from tsvq.data import embedded
from tsvq.data.registry import CUSTOM, REGISTRY, DatasetSpec
from tsvq.errors import TsvqError, one_line
from tsvq.reach import not_there


@dataclass
class Table:
    """A validated series: values [rows, channels] float32, with its column names and dates."""

    values: np.ndarray
    columns: list[str]
    dates: np.ndarray


def read_table(path: Path, dset: str = CUSTOM) -> Table:
    """Read and validate an Autoformer-layout CSV: a date column, then numeric columns.

    Rules (one clear error for each, see docs/robustness.md): the file exists and is UTF-8 text
    (plain or gzip-compressed); it has a header, at least one data row and at least one value
    column; every value cell is a finite number within float32 range; the dates parse and never
    go backwards. Repeated timestamps are accepted, since the benchmark weather file carries one
    exact duplicate row. Dates with a UTC offset are compared in UTC. A file shipped inside the
    package is read only if its content has the registry's sha256.

    pandas' own float parser reads the file first; only when that finds something unusual does
    the validating reader (every cell as text) run, to name the row, column and cell.
    """
    if not path.exists():
        hint = (
            ""
            if dset == CUSTOM
            else (
                f"; get it with `tsvq data download {dset}` or point --root_path at a data "
                "directory"
                + (
                    "; without --root_path tsvq reads its own copy"
                    if embedded.path_of(REGISTRY[dset].file)
                    else ""
                )
            )
        )
        raise TsvqError(f"{not_there('data file', path)}{hint}")
    if path.is_dir():
        raise TsvqError(f"data path is a directory, expected a CSV file: {path}")
    compression = _check_text(path)
    raw: Path | bytes = path
    if embedded.is_embedded(path):
        spec = _registered(path)
        raw, compression = embedded.verified_bytes(path, spec.sha256, spec.size), None
    check_header(raw, path, compression)
    fast = _read_fast(raw, path, compression)
    return fast if fast is not None else _read_strict(raw, path, compression)


def check_header(raw: Path | bytes, path: Path, compression: str | None) -> None:
    """Refuse a header that pandas would quietly repair: a column without a name (pandas calls
    it 'Unnamed: k'), a name given twice (pandas renames the second 'a.1'), or a first data row
    one field longer than the header (pandas takes the dates as an index and shifts every
    column by one): each is said as it is in the file."""
    try:
        with _text(raw, compression) as fh:
            rows = list(itertools.islice(csv.reader(fh), 2))
    except (OSError, EOFError, csv.Error):
        return  # the readers say what is wrong with such a file
    if not rows:
        return
    names = [n.strip() for n in rows[0]]
    if len(rows) > 1 and len(rows[1]) > len(names) >= 2:
        raise TsvqError(
            f"{path}: data row 1 has {len(rows[1])} fields but the header names {len(names)}"
            f"{' (a separator at the end of each row?)' if rows[1][-1] == '' else ''}; every "
            "row needs one field per header column"
        )
    blank = [i for i, n in enumerate(names) if i > 0 and not n]
    if blank:
        i = blank[0]
        trailing = " (a separator at the end of the header?)" if i == len(names) - 1 else ""
        raise TsvqError(
            f"{path}: header column {i + 1} has no name{trailing}; every value column needs a name"
        )
    twice = sorted({n for n in rows[0] if rows[0].count(n) > 1})
    if twice:
        raise TsvqError(
            f"{path}: the header names {', '.join(map(repr, twice))} more than "
            "once; each column needs a name of its own"
        )


def _text(raw: Path | bytes, compression: str | None) -> io.TextIOBase:
    """The file as text, decompressed, undecodable bytes replaced (as the readers read it)."""
    binary: IO[bytes] = io.BytesIO(raw) if isinstance(raw, bytes) else open(raw, "rb")  # noqa: SIM115
    if compression == "gzip":
        binary = cast(IO[bytes], gzip.GzipFile(fileobj=binary))
    return io.TextIOWrapper(binary, encoding="utf-8", errors="replace", newline="")


def _registered(path: Path) -> DatasetSpec:
    for spec in REGISTRY.values():
        if path.name == Path(spec.file).name + ".gz":
            return spec
    raise TsvqError(f"{path} is in tsvq's data folder but not in its dataset registry")


def _buffer(raw: Path | bytes) -> Path | io.BytesIO:
    return io.BytesIO(raw) if isinstance(raw, bytes) else raw


_READ_ERRORS = (pd.errors.ParserError, UnicodeDecodeError, ValueError, OSError, EOFError)
FAST_CHUNK_ROWS = 4096  # rows parsed at a time: memory stays near the float32 result's size


def _read_fast(raw: Path | bytes, path: Path, compression: str | None) -> Table | None:
    """Read with pandas' float parser straight into float32, a block of rows at a time.

    None when anything is unusual (a blank or text cell, NaN, inf, a value beyond float32, a
    malformed row, a numeric date column): the validating reader then names it.
    """
    kw = {"encoding_errors": "replace", "compression": compression}
    try:
        header = pd.read_csv(_buffer(raw), nrows=0, **kw).columns
        if len(header) < 2:
            return None
        # float32 parsing rounds the parsed float64, as the validating reader does
        dtypes = {header[0]: str, **{c: np.float32 for c in header[1:]}}
        blocks, dates = [], []
        # a value beyond float32 becomes inf (refused below), not a warning on the console
        with (
            np.errstate(over="ignore", invalid="ignore"),
            pd.read_csv(_buffer(raw), dtype=dtypes, chunksize=FAST_CHUNK_ROWS, **kw) as chunks,
        ):
            for chunk in chunks:
                if chunk.shape[1] != len(header) or chunk.iloc[:, 0].isna().any():
                    return None
                block = chunk.iloc[:, 1:].to_numpy(dtype=np.float32)
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
    date_col = pd.concat(dates, ignore_index=True).astype(str)
    return Table(values=values, columns=[str(c) for c in header[1:]], dates=_dates(date_col, path))


def _read_strict(raw: Path | bytes, path: Path, compression: str | None) -> Table:
    """Every cell as text, validated one by one: names the first bad row, column and cell."""
    try:
        frame = pd.read_csv(
            _buffer(raw),
            dtype=str,
            keep_default_na=False,
            encoding_errors="replace",
            compression=compression,
        )
    except pd.errors.EmptyDataError:
        raise TsvqError(f"data file is empty: {path}") from None
    except _READ_ERRORS as exc:
        raise TsvqError(f"cannot parse CSV {path}: {one_line(exc)}") from None
    if frame.shape[1] < 2:
        raise TsvqError(
            f"{path}: needs a date column and at least one value column, got {frame.shape[1]} "
            "column(s)"
        )
    if len(frame) == 0:
        raise TsvqError(f"{path}: has a header but no data rows")
    # a row with fewer fields than the header leaves NaN in the missing cells: treat as blank
    frame = frame.fillna("")
    columns = [str(c) for c in frame.columns[1:]]
    values = _numeric_block(frame.iloc[:, 1:], path)
    dates = _dates(frame.iloc[:, 0], path)
    return Table(values=values, columns=columns, dates=dates)


SNIFF_BYTES = 1 << 16
_TEXT_CONTROL = frozenset(b"\t\n\r\f")


def _check_text(path: Path) -> str | None:
    """Refuse a file that is not text; return the compression pandas should read it with."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(SNIFF_BYTES)
        compression = None
        if head[:2] == b"\x1f\x8b":
            compression = "gzip"
            with gzip.open(path, "rb") as fh:
                head = fh.read(SNIFF_BYTES)
    except (OSError, EOFError) as exc:
        raise TsvqError(f"cannot read {path}: {one_line(exc)}") from None
    if not head:
        raise TsvqError(f"data file is empty: {path}")
    # bytes that cannot be UTF-8 text (NUL, control codes, invalid sequences): a few stray
    # Latin-1 letters pass, a binary file (or UTF-16) does not
    kept = head.decode("utf-8", errors="ignore").encode("utf-8")
    invalid = len(head) - len(kept)
    control = sum(1 for b in head if b < 0x20 and b not in _TEXT_CONTROL)
    if b"\x00" in head or invalid + control > max(8, len(head) // 100):
        raise TsvqError(
            f"{path} is not a text CSV file ({invalid + control} of its first {len(head)} bytes "
            "are not UTF-8 text); expected a date column then numeric columns, as text"
        )
    return compression


F32_MAX = float(np.finfo(np.float32).max)


def _numeric_block(block: pd.DataFrame, path: Path) -> np.ndarray:
    out = np.empty(block.shape, dtype=np.float64)
    for j, name in enumerate(block.columns):
        col = block[name].str.strip()
        num = pd.to_numeric(col, errors="coerce").to_numpy(dtype=np.float64)
        bad = ~np.isfinite(num)
        if bad.any():
            i = int(np.argmax(bad))
            cell = col.iloc[i]
            what = "a blank cell" if cell == "" else f"{cell[:40]!r}"
            raise TsvqError(
                f"{path}: column {name!r} data row {i + 1} holds {what}; every value must be a "
                "finite number"
            )
        huge = np.abs(num) > F32_MAX
        if huge.any():
            i = int(np.argmax(huge))
            raise TsvqError(
                f"{path}: column {name!r} data row {i + 1} holds {col.iloc[i][:40]!r}, outside "
                f"the float32 range (|x| <= {F32_MAX:.4g}) tsvq computes in"
            )
        out[:, j] = num
    return out.astype(np.float32)


def _dates(col: pd.Series, path: Path) -> np.ndarray:
    # utc=True: offsets (even mixed ones) are compared in UTC; naive dates are left as they are
    parsed = pd.to_datetime(col.str.strip(), errors="coerce", format="mixed", utc=True)
    bad = parsed.isna().to_numpy()
    if bad.any():
        i = int(np.argmax(bad))
        raise TsvqError(
            f"{path}: first column {col.name!r} data row {i + 1} holds {col.iloc[i][:40]!r}, "
            "not a date"
        )
    stamps = parsed.dt.tz_localize(None).to_numpy()
    back = np.flatnonzero(stamps[1:] < stamps[:-1])
    if back.size:
        i = int(back[0]) + 1  # 0-based index of the row that goes back
        raise TsvqError(
            f"{path}: dates go backwards at data row {i + 1} ({col.iloc[i]!r} after "
            f"{col.iloc[i - 1]!r}); rows must be in time order"
        )
    return stamps
