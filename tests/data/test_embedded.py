"""The ETT family shipped inside the package: byte-identical, licensed, found last, verified."""

from __future__ import annotations

import gzip
import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tsvq.data import embedded
from tsvq.data.registry import REGISTRY, resolve_path
from tsvq.data.table import read_table
from tsvq.errors import TsvqError

ETT = ("etth1", "etth2", "ettm1", "ettm2")


@pytest.mark.parametrize("name", ETT)
def test_embedded_copy_is_the_registered_file(name: str, data_dir: Path) -> None:
    spec = REGISTRY[name]
    path = embedded.path_of(spec.file)
    assert path is not None, f"{spec.file}.gz does not ship"
    raw = path.read_bytes()
    assert raw[4:8] == b"\0\0\0\0", "gzip header carries a timestamp: compress with gzip -9 -n"
    data = gzip.decompress(raw)
    assert len(data) == spec.size
    assert hashlib.sha256(data).hexdigest() == spec.sha256
    assert embedded.verified_bytes(path, spec.sha256, spec.size) == data
    if (data_dir / spec.file).exists():
        assert (data_dir / spec.file).read_bytes() == data


def test_embedded_data_is_small_and_licensed(repo: Path) -> None:
    files = sorted(embedded.FOLDER.rglob("*.gz"))
    assert [f.name for f in files] == [
        "ETTh1.csv.gz",
        "ETTh2.csv.gz",
        "ETTm1.csv.gz",
        "ETTm2.csv.gz",
    ]
    assert sum(f.stat().st_size for f in files) < 4_000_000
    folder = embedded.FOLDER / "ETT-small"
    license_text = (folder / "LICENSE").read_text(encoding="utf-8")
    assert license_text.startswith("Creative Commons Attribution-NoDerivatives 4.0 International")
    notice = (folder / "NOTICE.md").read_text(encoding="utf-8")
    for needle in (
        "Haoyi Zhou",
        "https://github.com/zhouhaoyi/ETDataset",
        "CC BY-ND 4.0",
        "Informer",
    ):
        assert needle in notice
    pyproject = (repo / "pyproject.toml").read_text(encoding="utf-8")
    assert '"datafiles/ETT-small/*"' in pyproject  # shipped as package data


def _holding(folder: Path, file: str) -> Path:
    (folder / file).parent.mkdir(parents=True, exist_ok=True)
    (folder / file).write_text("date,a\n2020-01-01,1\n")
    return folder / file


def test_lookup_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """$TSVQ_DATA_DIR, then the per-user directory, then the copy inside the package."""
    file = REGISTRY["etth1"].file
    env, xdg = tmp_path / "env", tmp_path / "xdg"
    monkeypatch.setenv("TSVQ_DATA_DIR", str(env))
    monkeypatch.setenv("XDG_DATA_HOME", str(xdg))
    for path in [_holding(env, file), _holding(xdg / "tsvq", file)]:
        assert resolve_path("etth1", None, None) == path
        path.unlink()
    assert resolve_path("etth1", None, None) == embedded.path_of(file)
    # a dataset that does not ship: the first place looked, for the reader to report
    missing = resolve_path("weather", None, None)
    assert missing == env / REGISTRY["weather"].file
    with pytest.raises(TsvqError, match="tsvq data download weather"):
        read_table(missing, "weather")


def test_an_explicit_root_path_is_the_only_place(tmp_path: Path) -> None:
    """A directory the user names is used or reported, never silently replaced."""
    file = REGISTRY["etth1"].file
    root = tmp_path / "root"
    assert resolve_path("etth1", str(root), None) == root / file  # not the embedded copy
    with pytest.raises(TsvqError, match="without --root_path tsvq reads its own copy"):
        read_table(root / file, "etth1")
    assert resolve_path("etth1", str(root), None) == _holding(root, file)


def test_train_with_no_data_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, run_cli, tiny_args: tuple[str, ...]
) -> None:
    monkeypatch.delenv("TSVQ_DATA_DIR")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "empty"))
    rc, out, err = run_cli(
        [
            "train",
            "--dset",
            "etth1",
            "--n_epochs",
            "1",
            "--save_path",
            str(tmp_path / "runs"),
            *tiny_args,
        ]
    )
    assert rc == 0, err
    assert "Number of channels: 7 (HUFL" in out
    assert list((tmp_path / "runs" / "etth1").glob("*.pth"))


def _damage_truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def _damage_edit(path: Path) -> None:  # a valid gzip of different content
    data = bytearray(gzip.decompress(path.read_bytes()))
    data[-3] = ord("9") if data[-3] != ord("9") else ord("8")
    path.write_bytes(gzip.compress(bytes(data), mtime=0))


@pytest.mark.parametrize("damage", [_damage_truncate, _damage_edit], ids=["truncated", "edited"])
def test_damaged_embedded_copy_is_refused(
    tmp_path: Path, damage, repo: Path, tiny_args: tuple[str, ...]
) -> None:
    """A copy of the package with one damaged file: one line, exit 2, nothing written."""
    pkg = tmp_path / "site" / "tsvq"
    shutil.copytree(repo / "src" / "tsvq", pkg, ignore=shutil.ignore_patterns("__pycache__"))
    damage(pkg / "datafiles" / "ETT-small" / "ETTh1.csv.gz")
    env = {k: v for k, v in os.environ.items() if k != "TSVQ_DATA_DIR"}
    env.update(
        PYTHONPATH=str(tmp_path / "site"),
        HOME=str(tmp_path / "home"),
        XDG_DATA_HOME=str(tmp_path / "home" / "data"),
        OMP_NUM_THREADS="1",
    )
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "tsvq",
            "train",
            "--dset",
            "etth1",
            "--n_epochs",
            "1",
            "--save_path",
            str(tmp_path / "runs"),
            *tiny_args,
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "ETTh1.csv.gz" in lines[0] and "reinstall tsvq" in lines[0], lines
    assert not (tmp_path / "runs").exists()
