"""Dataset registry (a table, not a branch per dataset) and validated CSV reading."""

from __future__ import annotations

import csv
import gzip
import io
import itertools
import os
from dataclasses import dataclass
from pathlib import Path
from typing import IO, cast

import numpy as np
import pandas as pd

from tsvq.data import embedded
from tsvq.errors import TsvqError, one_line
from tsvq.reach import not_there

DATA_DIR_ENV = "TSVQ_DATA_DIR"


@dataclass(frozen=True)
class SplitRule:
    """How a series is cut into train / val / test rows.

    `months`: the ETT rule, 12 / 4 / 4 months of 30 days of `rows_per_day` rows.
    `ratio`: the Autoformer rule, 70% / 10% / 20% of the rows.
    """

    kind: str  # "months" | "ratio"
    rows_per_day: int = 0


@dataclass(frozen=True)
class DatasetSpec:
    """Where a benchmark dataset lives under the data directory and how it is split."""

    file: str
    split: SplitRule
    sha256: str
    size: int
    target_last: bool  # PatchTST's custom loader moves the target column last; its ETT loader not


ETT_HOUR = SplitRule("months", rows_per_day=24)
ETT_MINUTE = SplitRule("months", rows_per_day=96)
RATIO = SplitRule("ratio")

REGISTRY: dict[str, DatasetSpec] = {
    "etth1": DatasetSpec(
        "ETT-small/ETTh1.csv",
        ETT_HOUR,
        "f18de3ad269cef59bb07b5438d79bb3042d3be49bdeecf01c1cd6d29695ee066",
        2589657,
        False,
    ),
    "etth2": DatasetSpec(
        "ETT-small/ETTh2.csv",
        ETT_HOUR,
        "a3dc2c597b9218c7ce1cd55eb77b283fd459a1d09d753063f944967dd6b9218b",
        2417960,
        False,
    ),
    "ettm1": DatasetSpec(
        "ETT-small/ETTm1.csv",
        ETT_MINUTE,
        "6ce1759b1a18e3328421d5d75fadcb316c449fcd7cec32820c8dafda71986c9e",
        10360719,
        False,
    ),
    "ettm2": DatasetSpec(
        "ETT-small/ETTm2.csv",
        ETT_MINUTE,
        "db973ca252c6410a30d0469b13d696cf919648d0f3fd588c60f03fdbdbadd1fd",
        9677236,
        False,
    ),
    "weather": DatasetSpec(
        "weather/weather.csv",
        RATIO,
        "9b2b19b13e342d9c9b9c51620d42b4be232df7fba30e7f5c4968b7c79ab138ad",
        7182728,
        True,
    ),
    "illness": DatasetSpec(
        "illness/national_illness.csv",
        RATIO,
        "8594cecb98c6f2f9dc014eca11c4d5d1e38ad5ce6ed0592d4abe65b146fce395",
        66653,
        True,
    ),
    "exchange": DatasetSpec(
        "exchange_rate/exchange_rate.csv",
        RATIO,
        "d55e7aa2641009814a18ba3279431b13f6d413b0eab195b9ff21988d8cf94e97",
        630212,
        True,
    ),
    "electricity": DatasetSpec(
        "electricity/electricity.csv",
        RATIO,
        "7e45845d54c5219bad0ae6bc1b5316cf8ff9cead5d33fa998a5a51c2e4a497ad",
        95581762,
        True,
    ),
    "traffic": DatasetSpec(
        "traffic/traffic.csv",
        RATIO,
        "cb06463d56fa17d87f47027cd9389ceae82a69eddee51cdb61480e120dab0b16",
        136478119,
        True,
    ),
}
CUSTOM = "custom"
DATASET_NAMES = (*REGISTRY, CUSTOM)


def user_data_dir() -> Path:
    """The per-user data directory, where `tsvq data download` puts files by default."""
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(Path.home(), ".local", "share")
    return Path(base) / "tsvq"


def default_data_dir() -> Path:
    """`$TSVQ_DATA_DIR` if set, else the per-user data directory."""
    env = os.environ.get(DATA_DIR_ENV)
    return Path(env) if env else user_data_dir()


def data_dirs(root_path: str | None) -> list[Path]:
    """Where a registered dataset is looked for, in order (then the embedded copy).

    An explicit `--root_path` is the only place: a directory the user names that lacks the
    file is an error, never a silent switch to other data.
    """
    if root_path:
        return [Path(root_path)]
    dirs = []
    env = os.environ.get(DATA_DIR_ENV)
    if env:
        dirs.append(Path(env))
    dirs.append(user_data_dir())
    return list(dict.fromkeys(dirs))


def resolve_path(dset: str, root_path: str | None, data_path: str | None) -> Path:
    """The CSV file for a dataset name (or `custom` with `data_path`).

    A registered dataset is taken from `--root_path` when one is given; else from the first of
    `$TSVQ_DATA_DIR` and the per-user data directory that holds its file, else from the copy
    shipped inside the package (the ETT family). With none, the first place looked is returned
    for the reader to report.
    """
    if dset == CUSTOM:
        if not data_path:
            raise TsvqError("--dset custom needs --data_path CSV (a date column, then numbers)")
        path = Path(data_path)
        if not path.is_absolute() and root_path and not path.exists():
            path = Path(root_path) / path
        return path
    if dset not in REGISTRY:
        raise TsvqError(f"unknown dataset {dset!r}; allowed: {', '.join(DATASET_NAMES)}")
    file = REGISTRY[dset].file
    candidates = [d / file for d in data_dirs(root_path)]
    found = next((p for p in candidates if p.exists()), None)
    if found or root_path:
        return found or candidates[0]
    return embedded.path_of(file) or candidates[0]


def split_rule(dset: str) -> SplitRule:
    """The split rule of a registered dataset; `custom` uses the 70/10/20 ratio rule."""
    return REGISTRY[dset].split if dset in REGISTRY else RATIO


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
