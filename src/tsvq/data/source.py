"""The one door every data file passes before a reader parses it.

Every command that reads data (train, eval, plot, encode, `refit_scaler`) opens the file with
`open_source`, and both readers (the whole table, `registry.read_table`, and the streaming one,
`stream.scan`) judge cells with `parse_values`, so a file one command refuses no other command
reads. The checks, in order, stopping at the first problem:

1. the path exists and is a regular file (not a folder, a FIFO that would block, a device);
2. a registered dataset's file has the registry's size and sha256, or its user vouched for an
   edited copy by writing its sha256 beside it (`sha256sum FILE > FILE.sha256`);
3. a copy shipped inside the package decompresses to the registry's bytes;
4. the content is text (plain or gzip-compressed), or a user's own file is Parquet (its first
   bytes say so; a `.parquet` file whose bytes do not is refused);
5. a CSV's header names every value column, each once, and no row anywhere in the file has more
   fields than the header.
"""

from __future__ import annotations

import contextlib
import csv
import gzip
import hashlib
import io
import itertools
import re
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Literal, cast

import numpy as np

from tsvq.data import embedded
from tsvq.data.registry import REGISTRY, DatasetSpec
from tsvq.errors import TsvqError, one_line
from tsvq.reach import kind_of, not_there

VOUCH_SUFFIX = ".sha256"


@dataclass(frozen=True)
class Source:
    """A data file that passed the door: what the readers parse (`raw`: the file itself, or the
    verified bytes of a copy inside the package), how it is compressed, and the sha256 of its
    content as stored (a copy inside the package: of the file it decompresses to)."""

    path: Path  # as given, for messages
    raw: Path | bytes
    compression: str | None
    sha256: str
    format: Literal["csv", "parquet"] = "csv"  # a user's own file may be Parquet

    def binary(self) -> IO[bytes]:
        """The content as a binary stream, decompressed."""
        raw = self.raw
        fh: IO[bytes] = io.BytesIO(raw) if isinstance(raw, bytes) else open(raw, "rb")  # noqa: SIM115
        return cast(IO[bytes], gzip.GzipFile(fileobj=fh)) if self.compression == "gzip" else fh

    def text(self) -> io.TextIOBase:
        """The content as text, undecodable bytes replaced (as pandas reads it here)."""
        return io.TextIOWrapper(self.binary(), encoding="utf-8", errors="replace", newline="")

    def buffer(self) -> Path | io.BytesIO:
        """What pandas reads: the path, or the bytes as a fresh stream."""
        return io.BytesIO(self.raw) if isinstance(self.raw, bytes) else self.raw


def open_source(
    path: Path, dset: str | None = None, hint: str = "", sha256: str | None = None
) -> Source:
    """Check data file `path` (of dataset `dset`; a user's own file for None or custom) at the
    door. `hint` follows a 'not found' (how to get the file); `sha256`, when given, is the
    digest a run recorded for this file, which it must still have. Raises `TsvqError`."""
    if not path.exists():
        raise TsvqError(f"{not_there('data file', path)}{hint}")
    if path.is_dir():
        raise TsvqError(f"data path is a directory, expected a CSV file: {path}")
    kind = kind_of(path)
    if kind:
        raise TsvqError(f"data file {path} is {kind}; give a CSV file")
    spec = REGISTRY.get(dset) if dset else None
    if embedded.is_embedded(path):
        spec = _embedded_spec(path)
        raw = embedded.verified_bytes(path, spec.sha256, spec.size)
        source = Source(path, raw, None, spec.sha256)
    else:
        digest = _check_registered(path, str(dset), spec) if spec else sha256_of(path)
        if spec is None and is_parquet(path):
            return _checked(Source(path, path, None, digest, "parquet"), sha256)
        source = Source(path, path, _sniff(path), digest)
    check_header(_checked(source, sha256))
    return source


def _checked(source: Source, sha256: str | None) -> Source:
    if sha256 is not None and source.sha256 != sha256:
        raise TsvqError(
            f"{source.path} has sha256 {source.sha256}, not {sha256}, the digest recorded when "
            "the run read it: the file changed since; name the file on the command line to "
            "read it as it is now"
        )
    return source


PARQUET_MAGIC = b"PAR1"  # a Parquet file's first (and last) four bytes
PARQUET_SUFFIXES = (".parquet", ".pq")


def is_parquet(path: Path) -> bool:
    """Whether a user's file is Parquet: its first bytes say so; a file whose name says Parquet
    but whose bytes do not is refused in one line."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(len(PARQUET_MAGIC))
    except OSError as exc:
        raise TsvqError(f"cannot read {path}: {one_line(exc)}") from None
    if head == PARQUET_MAGIC:
        return True
    if path.suffix.lower() in PARQUET_SUFFIXES:
        raise TsvqError(
            f"{path} is not a Parquet file (its first bytes are {head!r}, a Parquet file starts "
            f"with {PARQUET_MAGIC!r}); give a Parquet or CSV file"
        )
    return False


# ---- registered files: the registry's bytes, or an edit its user vouched for ------------------


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def vouch_path(path: Path) -> Path:
    """Where a user vouches for an edited registered file: `FILE.sha256` beside it."""
    return path.with_name(path.name + VOUCH_SUFFIX)


_HEX64 = re.compile(r"[0-9a-fA-F]{64}")


def vouched_digest(path: Path) -> str | None:
    """The sha256 `FILE.sha256` vouches for (the first word, as `sha256sum` writes), or None."""
    sidecar = vouch_path(path)
    if not sidecar.is_file():
        return None
    try:
        with open(sidecar, "rb") as fh:
            words = fh.read(4096).decode("utf-8", errors="replace").split()
    except OSError as exc:
        raise TsvqError(f"cannot read {sidecar}: {one_line(exc)}") from None
    if not words or not _HEX64.fullmatch(words[0]):
        raise TsvqError(
            f"{sidecar} does not start with a sha256 (64 hex digits); write it with "
            f"`sha256sum {path} > {sidecar}`"
        )
    return words[0].lower()


@dataclass(frozen=True)
class Verdict:
    """How a registered dataset's file compares with the registry."""

    state: str  # "verified" | "vouched" | "wrong size" | "wrong sha256"
    size: int
    sha256: str | None  # None when the size alone already tells
    vouched: str | None = None  # the digest FILE.sha256 holds, if there is one

    @property
    def ok(self) -> bool:
        return self.state in ("verified", "vouched")


def verify(path: Path, size: int, sha256: str) -> Verdict:
    """Whether the file at `path` has the registry's `size` and `sha256`, or is vouched for."""
    got = path.stat().st_size
    vouched = vouched_digest(path)
    if got != size and vouched is None:
        return Verdict("wrong size", got, None)
    digest = sha256_of(path)
    if digest == sha256 and got == size:
        return Verdict("verified", got, digest, vouched)
    if digest == vouched:
        return Verdict("vouched", got, digest, vouched)
    return Verdict("wrong size" if got != size else "wrong sha256", got, digest, vouched)


def _check_registered(path: Path, dset: str, spec: DatasetSpec) -> str:
    """The sha256 of a registered dataset's file that is the registry's or vouched for."""
    v = verify(path, spec.size, spec.sha256)
    if v.ok and v.sha256:
        return v.sha256
    sidecar = vouch_path(path)
    if v.vouched is not None:
        raise TsvqError(
            f"{sidecar} vouches for sha256 {v.vouched} but {path} now has sha256 {v.sha256}; "
            f"vouch again with `sha256sum {path} > {sidecar}` if this edit is on purpose too"
        )
    has = f"{v.size:,} bytes" + (f", sha256 {v.sha256}" if v.sha256 else "")
    raise TsvqError(
        f"{path} is not the registered {dset} file ({v.state}: {has}; registered "
        f"{spec.size:,} bytes, sha256 {spec.sha256}); fetch it again with `tsvq data download "
        f"{dset}`, or, if it was edited on purpose, vouch for it with `sha256sum {path} > "
        f"{sidecar}`"
    )


def _embedded_spec(path: Path) -> DatasetSpec:
    for spec in REGISTRY.values():
        if path.name == Path(spec.file).name + ".gz":
            return spec
    raise TsvqError(f"{path} is in tsvq's data folder but not in its dataset registry")


# ---- text, header and rows ----------------------------------------------------------------

SNIFF_BYTES = 1 << 16
_TEXT_CONTROL = frozenset(b"\t\n\r\f")


def _sniff(path: Path) -> str | None:
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
            "are not UTF-8 text); expected a date column (if any) then numeric columns, as text"
        )
    return compression


def check_header(source: Source) -> None:
    """Refuse what pandas would quietly repair, said as it is in the file: a value column
    without a name (pandas calls it 'Unnamed: k'), a name given twice (pandas renames the
    second 'a.1'), and a row with more fields than the header anywhere in the file (in the
    first row pandas takes the dates as an index and shifts every column by one; further down
    a reader of some columns alone never sees the extra field)."""
    path = source.path
    try:
        with contextlib.closing(source.text()) as fh:
            rows = list(itertools.islice(csv.reader(fh), 1))
        if not rows:
            return
        names = [n.strip() for n in rows[0]]
        long = _first_long_row(source, len(names)) if len(names) >= 2 else None
    except (OSError, EOFError, csv.Error):
        return  # the readers say what is wrong with such a file
    if long:
        row, n, trailing = long
        raise TsvqError(
            f"{path}: data row {row} has {n} fields but the header names {len(names)}"
            f"{' (a separator at the end of each row?)' if trailing else ''}; every "
            "row needs one field per header column"
        )
    blank = [i for i, n in enumerate(names) if i > 0 and not n]
    if blank:
        i = blank[0]
        end = " (a separator at the end of the header?)" if i == len(names) - 1 else ""
        raise TsvqError(
            f"{path}: header column {i + 1} has no name{end}; every value column needs a name"
        )
    twice = sorted({n for n in rows[0] if rows[0].count(n) > 1})
    if twice:
        raise TsvqError(
            f"{path}: the header names {', '.join(map(repr, twice))} more than "
            "once; each column needs a name of its own"
        )


ROW_BLOCK = 1 << 20  # bytes counted at a time


def _first_long_row(source: Source, n_fields: int) -> tuple[int, int, bool] | None:
    """(data row, its fields, whether it ends in a separator) of the first row with more than
    `n_fields` fields; blank lines are no rows (pandas skips them). Separators are counted in
    blocks of bytes; a file with quotes is read by the csv module instead."""
    seen = 0  # non-blank lines so far, the header included
    carry = b""
    with contextlib.closing(source.binary()) as fh:
        while True:
            block = fh.read(ROW_BLOCK)
            data = carry + block
            if b'"' in data:
                return _first_long_row_quoted(source, n_fields)
            if block:
                end = data.rfind(b"\n") + 1
                data, carry = data[:end], data[end:]
            elif data and not data.endswith(b"\n"):
                data += b"\n"
            if data:
                found, seen = _long_in_block(np.frombuffer(data, np.uint8), seen, n_fields)
                if found:
                    return found
            if not block:
                return None


def _long_in_block(
    a: np.ndarray, seen: int, n_fields: int
) -> tuple[tuple[int, int, bool] | None, int]:
    """The first long row among whole lines `a` (bytes ending in a newline), and the count of
    non-blank lines after them."""
    ends = np.flatnonzero(a == ord("\n"))
    fields = np.diff(np.cumsum(a == ord(","), dtype=np.int64)[ends], prepend=0) + 1
    starts = np.concatenate([[0], ends[:-1] + 1])
    cr = (ends > starts) & (a[np.maximum(ends - 1, 0)] == ord("\r"))
    last = ends - 1 - cr  # the last byte of each line before its line break
    filled = last >= starts
    index = seen + np.cumsum(filled)  # 1 for the header
    long = filled & (index >= 2) & (fields > n_fields)
    if long.any():
        i = int(np.argmax(long))
        return (int(index[i]) - 1, int(fields[i]), bool(a[last[i]] == ord(","))), 0
    return None, int(index[-1]) if len(index) else seen


def _first_long_row_quoted(source: Source, n_fields: int) -> tuple[int, int, bool] | None:
    with contextlib.closing(source.text()) as fh:
        rows = (r for r in csv.reader(fh) if r)
        for i, row in enumerate(rows):
            if i and len(row) > n_fields:
                return i, len(row), row[-1] == ""
    return None
