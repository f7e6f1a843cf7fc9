"""The door every data file passes (tsvq.data.source): both readers, the whole table and the
streaming one, refuse the same files with the same line, whatever command calls them.
(The same files through each command: the "commands agree" rows of the bad-input matrix.)"""

from __future__ import annotations

import gzip
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from tsvq.data import embedded
from tsvq.data.download import check, status_table
from tsvq.data.registry import REGISTRY
from tsvq.data.source import open_source, sha256_of, vouch_path
from tsvq.data.stream import RowReader, scan
from tsvq.data.table import read_table
from tsvq.errors import TsvqError


def _whole(path: Path, dset: str = "custom") -> np.ndarray:
    return read_table(path, dset).values


def _streamed(path: Path, dset: str = "custom") -> np.ndarray:
    layout = scan(path, dset)
    cols = list(range(len(layout.columns)))
    return RowReader(layout, cols, gaps=False).rows(0, layout.n_rows)


READERS: dict[str, Callable[..., np.ndarray]] = {"whole": _whole, "streamed": _streamed}


def _rows(n: int, long_at: int | None = None, quote: bool = False, crlf: bool = False) -> bytes:
    nl = "\r\n" if crlf else "\n"
    lines = ['date,"a",b' if quote else "date,a,b"]
    for i in range(n):
        extra = ",9" if i + 1 == long_at else ""
        lines.append(f"2020-01-01 00:00:{i % 60:02d}.{i:06d},{i % 7},{i % 3}{extra}")
    return (nl.join(lines) + nl).encode()


@pytest.mark.parametrize("reader", list(READERS))
@pytest.mark.parametrize(
    "where",
    [
        {"n": 50, "long_at": 1},
        {"n": 50, "long_at": 37},
        {"n": 60_000, "long_at": 59_000},  # far beyond the first block of bytes counted
        {"n": 50, "long_at": 50, "quote": True},  # the csv module's path
        {"n": 50, "long_at": 20, "crlf": True},
    ],
    ids=["row 1", "row 37", "row 59000", "quoted header", "CRLF"],
)
def test_a_long_row_anywhere_is_refused_by_both_readers(
    tmp_path: Path, reader: str, where: dict
) -> None:
    path = tmp_path / "long.csv"
    path.write_bytes(_rows(**where))
    with pytest.raises(TsvqError, match=rf"data row {where['long_at']} has 4 fields but the "):
        READERS[reader](path)


def test_blank_lines_are_no_rows(tmp_path: Path) -> None:
    """pandas skips blank lines, so the row a message names is the one pandas would number."""
    path = tmp_path / "blank.csv"
    path.write_bytes(b"date,a,b\n\n2020-01-01,1,2\n\n\n2020-01-02,1,2,3\n")
    for reader in READERS.values():
        with pytest.raises(TsvqError, match="data row 2 has 4 fields"):
            reader(path)


@pytest.mark.parametrize("reader", list(READERS))
@pytest.mark.parametrize(
    ("cell", "needle"),
    [
        ("1e400", "holds '1e400', outside the float32 range"),
        ("-4e38", "holds '-4e38', outside the float32 range"),
        ("inf", "holds 'inf'; every value must be a finite number"),
        ("x1", "holds 'x1'; every value must be a finite number"),
    ],
)
def test_cells_are_judged_by_one_rule(tmp_path: Path, reader: str, cell: str, needle: str) -> None:
    path = tmp_path / "cells.csv"
    path.write_bytes(b"date,a,b\n2020-01-01,1,2\n2020-01-02,3," + cell.encode() + b"\n")
    with pytest.raises(TsvqError, match=f"column 'b' data row 2 {needle}"):
        READERS[reader](path)


def test_a_number_beyond_float32_is_no_gap(tmp_path: Path) -> None:
    """With gaps filled, a blank cell, nan or inf is a gap; 1e400 is a number tsvq cannot hold."""
    path = tmp_path / "cells.csv"
    path.write_bytes(b"date,a\n2020-01-01,\n2020-01-02,nan\n2020-01-03,-inf\n2020-01-04,1\n")
    layout = scan(path)
    got = RowReader(layout, [0], gaps=True).rows(0, 4)
    assert np.isnan(got[:3, 0]).all() and got[3, 0] == 1
    path.write_bytes(b"date,a\n2020-01-01,1\n2020-01-02,1e400\n")
    with pytest.raises(TsvqError, match="'1e400', outside the float32 range"):
        RowReader(scan(path), [0], gaps=True).rows(0, 2)


@pytest.mark.parametrize("reader", list(READERS))
def test_a_fifo_is_refused_without_blocking(tmp_path: Path, reader: str) -> None:
    path = tmp_path / "pipe.csv"
    os.mkfifo(path)
    with pytest.raises(TsvqError, match=r"pipe.csv is a FIFO \(named pipe\), not a regular file"):
        READERS[reader](path)


# ---- the copy inside the package -------------------------------------------------------------


@pytest.fixture
def damaged_copy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of tsvq's data folder with ETTh1 edited (a valid gzip of other bytes)."""
    folder = tmp_path / "datafiles"
    shutil.copytree(embedded.FOLDER, folder)
    gz = folder / "ETT-small" / "ETTh1.csv.gz"
    data = bytearray(gzip.decompress(gz.read_bytes()))
    data[-3] = ord("9") if data[-3] != ord("9") else ord("8")
    gz.write_bytes(gzip.compress(bytes(data), mtime=0))
    monkeypatch.setattr(embedded, "FOLDER", folder)
    return gz


@pytest.mark.parametrize("reader", list(READERS))
def test_the_embedded_copy_is_verified_by_both_readers(damaged_copy: Path, reader: str) -> None:
    with pytest.raises(TsvqError, match="does not match its checksum.*reinstall tsvq"):
        READERS[reader](damaged_copy, "etth1")


def test_the_embedded_copy_is_read_as_the_registered_file(tmp_path: Path) -> None:
    gz = embedded.path_of(REGISTRY["etth1"].file)
    assert gz is not None
    whole, streamed = _whole(gz, "etth1"), _streamed(gz, "etth1")
    np.testing.assert_array_equal(whole, streamed)
    assert open_source(gz, "etth1").sha256 == REGISTRY["etth1"].sha256


# ---- registered files in a data directory ---------------------------------------------------


def _edited_illness(root: Path, data_dir: Path) -> Path:
    """root/illness/national_illness.csv with one value changed (same size)."""
    spec = REGISTRY["illness"]
    path = root / spec.file
    path.parent.mkdir(parents=True, exist_ok=True)
    data = bytearray((data_dir / spec.file).read_bytes())
    i = data.rindex(b".") + 1
    data[i] = ord("1") if data[i] != ord("1") else ord("2")
    path.write_bytes(bytes(data))
    return path


@pytest.mark.dataset("illness")
@pytest.mark.parametrize("reader", list(READERS))
def test_a_registered_file_that_fails_its_checksum_is_refused(
    tmp_path: Path, data_dir: Path, reader: str
) -> None:
    path = _edited_illness(tmp_path, data_dir)
    with pytest.raises(TsvqError, match="is not the registered illness file .wrong sha256") as info:
        READERS[reader](path, "illness")
    assert f"sha256sum {path} > {path}.sha256" in str(info.value)  # how to vouch for it
    data = path.read_bytes()
    path.write_bytes(data[: data.rindex(b"\n", 0, -1) + 1])  # the last row dropped
    size = f"{path.stat().st_size:,}"
    with pytest.raises(TsvqError, match=rf"\(wrong size: {size} bytes; registered 66,653"):
        READERS[reader](path, "illness")
    # the same bytes as a user's own file: read as they are
    assert READERS[reader](path, "custom").shape == (965, 7)


@pytest.mark.dataset("illness")
def test_a_vouched_edit_is_read_and_listed_and_never_replaced(
    tmp_path: Path, data_dir: Path, run_cli
) -> None:
    path = _edited_illness(tmp_path, data_dir)
    vouch_path(path).write_text(f"{sha256_of(path)}  {path}\n")  # as sha256sum writes it
    assert read_table(path, "illness").values.shape == (966, 7)
    assert open_source(path, "illness").sha256 == sha256_of(path)
    assert check("illness", tmp_path).state == "vouched"
    assert "vouched" in status_table(tmp_path) and "edited on purpose" in status_table(tmp_path)
    rc, out, err = run_cli(["data", "download", "illness", "--root_path", str(tmp_path)])
    assert rc == 0 and "left as it is" in out, err
    assert sha256_of(path) == vouch_path(path).read_text().split()[0]  # not replaced
    # an edit after the vouch is refused again, naming both digests
    path.write_bytes(path.read_bytes().replace(b"2002", b"2003", 1))
    with pytest.raises(TsvqError, match="illness.csv.sha256 vouches for sha256 .* now has"):
        read_table(path, "illness")
    vouch_path(path).write_text("not a digest\n")
    with pytest.raises(TsvqError, match=r"does not start with a sha256 \(64 hex digits\)"):
        read_table(path, "illness")


def test_a_recorded_digest_must_still_hold(tmp_path: Path) -> None:
    path = tmp_path / "mine.csv"
    path.write_bytes(_rows(40))
    digest = sha256_of(path)
    assert read_table(path, "custom", digest).values.shape == (40, 2)
    assert scan(path, "custom", sha256=digest).n_rows == 40
    path.write_bytes(_rows(41))
    for read in (lambda: read_table(path, "custom", digest), lambda: scan(path, sha256=digest)):
        with pytest.raises(TsvqError, match=f"not {digest}, the digest recorded when the run"):
            read()
