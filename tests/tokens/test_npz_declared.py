"""Memory before trust in the tokens door (issue 25, classes 6 and 7): a tokens file's members
are judged by their .npy headers before any is read, so a member whose header claims an absurd
size, or one that would inflate far beyond what the other fields declare, is one line and never
inflated; decode of such a file is exit 2, nothing written."""

from __future__ import annotations

import io
import tracemalloc
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from tsvq.errors import TsvqError
from tsvq.tokens import npz


@pytest.fixture(scope="module")
def tokens(tiny_run: Path, tmp_path_factory: pytest.TempPathFactory, run_cli) -> Path:
    """A genuine tokens file: the test split of ETTh1 through the tiny checkpoint."""
    out = tmp_path_factory.mktemp("tokens") / "t.npz"
    rc, _out, err = run_cli(["encode", "--checkpoint", str(tiny_run), "--out", str(out)])
    assert rc == 0, err
    return out


def _rewrite(src: Path, dst: Path, name: str, member: Callable[[zipfile.ZipFile], None]) -> Path:
    """`src` with member `name` replaced: `member(archive)` writes the new one."""
    with zipfile.ZipFile(src) as old, zipfile.ZipFile(dst, "w", allowZip64=True) as new:
        for info in old.infolist():
            if info.filename != f"{name}.npy":
                new.writestr(info, old.read(info))
        member(new)
    return dst


def _header(shape: tuple[int, ...], dtype: str) -> bytes:
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        buf, {"descr": np.dtype(dtype).str, "fortran_order": False, "shape": shape}
    )
    return buf.getvalue()


def _claims(shape: tuple[int, ...]) -> Callable[[zipfile.ZipFile], None]:
    """codes.npy whose header claims `shape` but whose data is 100 bytes."""
    return lambda z: z.writestr("codes.npy", _header(shape, "u1") + bytes(100))


def _bomb(n: int, c: int, k: int) -> Callable[[zipfile.ZipFile], None]:
    """codes.npy of n windows, consistent with itself ([n, c, k] uint8 zeros), deflated."""

    def write(z: zipfile.ZipFile) -> None:
        info = zipfile.ZipInfo("codes.npy")
        info.compress_type = zipfile.ZIP_DEFLATED
        with z.open(info, "w", force_zip64=True) as fh:
            fh.write(_header((n, c, k), "u1"))
            block, left = bytes(1 << 20), n * c * k
            while left:
                fh.write(block[: min(left, len(block))])
                left -= min(left, len(block))

    return write


def test_a_member_whose_header_claims_more_than_it_holds_is_refused(
    tokens: Path, tmp_path: Path
) -> None:
    bad = _rewrite(tokens, tmp_path / "t.npz", "codes", _claims((10**12, 7, 24)))
    with pytest.raises(TsvqError, match=r"'codes' declares shape \(1000000000000, 7, 24\) of"):
        npz.read_tokens(bad)


def test_a_member_far_larger_than_the_others_declare_is_refused_unread(
    tokens: Path, tmp_path: Path
) -> None:
    """A deflated member of 168 MB of zeros in a file of a few hundred KB: refused from its
    header, with next to no memory taken (numpy's allocations are traced)."""
    with np.load(tokens) as f:
        c, k = f["codes"].shape[1:]
    bad = _rewrite(tokens, tmp_path / "t.npz", "codes", _bomb(10**6, c, k))
    assert bad.stat().st_size < 2 * 2**20
    tracemalloc.start()
    try:
        with pytest.raises(TsvqError, match=r"with codes of shape \(1000000, 7, 24\)"):
            npz.read_tokens(bad)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 20 * 2**20, f"{peak / 2**20:.0f} MiB taken before the refusal"


def test_members_that_would_not_fit_in_memory_are_refused(tokens: Path) -> None:
    npz._check_declared(tokens)  # the genuine file passes
    with pytest.raises(TsvqError, match=r"declares arrays of \d+ MiB in all, more than the 0 MiB"):
        npz._check_declared(tokens, free=1024)


def test_decode_of_such_a_file_is_one_line_and_writes_nothing(
    tokens: Path, tiny_run: Path, tmp_path: Path, run_cli, tree
) -> None:
    bad = _rewrite(tokens, tmp_path / "t.npz", "codes", _claims((10**12, 7, 24)))
    before = tree(tmp_path)
    out = tmp_path / "x.npz"
    rc, _out, err = run_cli(
        ["decode", "--checkpoint", str(tiny_run), "--tokens", str(bad), "--out", str(out)]
    )
    assert rc == 2 and err.count("\n") == 1 and "Traceback" not in err, err
    assert "'codes' declares shape" in err and tree(tmp_path) == before
