"""Shipped tokenizers by name: loaded offline in a fresh copy of the package (no network, no data
folder, an empty HOME), refused after a one-byte edit, listed with their card's figures.

The package is copied to a temporary folder with a tokenizer trained here written into its
`tokens/shipped/` (as the shipped ones are: `save_pretrained`, then the manifest), and each check
runs `python -m tsvq` from that copy as its own process."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import tsvq
from tsvq.tokens import catalog
from tsvq.tokens.tokenizer import Tokenizer

CARD_FRONT = "tsvq_data: a random walk\ntsvq_test_mse: 0.0421\ntsvq_baseline_mse: 0.0456\n"


@pytest.fixture(scope="module")
def tiny_tok() -> Tokenizer:
    x = np.cumsum(np.random.default_rng(0).standard_normal((1500, 3)), axis=0)
    flags = {"context_points": 96, "max_steps_per_epoch": 4, "batch_size": 32}
    return tsvq.fit(x, n_epochs=1, threads=1, **flags)


@pytest.fixture
def package(tmp_path: Path, tiny_tok: Tokenizer) -> Path:
    """A copy of the installed package with `tsvq/tiny` shipped in it; returns its parent."""
    root = tmp_path / "site"
    shutil.copytree(
        Path(tsvq.__file__).parent, root / "tsvq", ignore=shutil.ignore_patterns("__pycache__")
    )
    shipped = root / "tsvq" / "tokens" / "shipped"
    folder = tiny_tok.save_pretrained(shipped / "tiny")
    card = (folder / "README.md").read_text()
    (folder / "README.md").write_text(card.replace("---\n", "---\n" + CARD_FRONT, 1))
    catalog.write_manifest(shipped)
    return root


def _tsvq(site: Path, *argv: str, code: str | None = None) -> subprocess.CompletedProcess:
    """`python -m tsvq argv` (or `python -c code`) from the copy: no data folder, an empty HOME,
    the Hub offline, in an empty folder."""
    home = site.parent / "home"
    work = site.parent / "work"
    home.mkdir(exist_ok=True)
    work.mkdir(exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TSVQ_", "XDG_", "HF_"))}
    env.update(PYTHONPATH=str(site), HOME=str(home), HF_HUB_OFFLINE="1", OMP_NUM_THREADS="1")
    cmd = [sys.executable, "-c", code] if code else [sys.executable, "-m", "tsvq", *argv]
    return subprocess.run(cmd, cwd=work, env=env, capture_output=True, text=True, timeout=300)


def test_loads_by_name_offline_without_data_or_home(package: Path, tiny_tok: Tokenizer) -> None:
    code = (
        "import tsvq, numpy as np; from tsvq import Tokenizer; "
        "t = Tokenizer.from_pretrained('tsvq/tiny'); "
        "x = np.random.default_rng(1).standard_normal((2, 96, 3)).astype('float32'); "
        "print(tsvq.__file__, t.fingerprint, t.encode(x).codes.sum())"
    )
    proc = _tsvq(package, code=code)
    assert proc.returncode == 0, proc.stderr
    where, fingerprint, total = proc.stdout.split()
    assert where.startswith(str(package))  # the copy, not this checkout
    assert fingerprint == tiny_tok.fingerprint
    x = np.random.default_rng(1).standard_normal((2, 96, 3)).astype("float32")
    assert int(total) == int(tiny_tok.encode(x).codes.sum())


def test_the_listing_reads_config_and_card(package: Path, tiny_tok: Tokenizer) -> None:
    proc = _tsvq(package, "pretrained", "--json")
    assert proc.returncode == 0, proc.stderr
    rows = {r["name"]: r for r in json.loads(proc.stdout)}
    assert sorted(rows) == catalog.names(package / "tsvq" / "tokens" / "shipped")  # tsvq/ett too
    row = rows["tsvq/tiny"]
    assert row["name"] == "tsvq/tiny" and row["fingerprint"] == tiny_tok.fingerprint
    assert (row["context_points"], row["compression_factor"], row["codebook_size"]) == (96, 4, 256)
    assert row["data"] == "a random walk" and row["channels"] == 3
    assert (row["test_mse"], row["baseline_mse"]) == (0.0421, 0.0456)
    shipped = package / "tsvq" / "tokens" / "shipped" / "tiny"
    assert row["size_bytes"] == sum(f.stat().st_size for f in shipped.iterdir())
    table = _tsvq(package, "pretrained")
    assert table.returncode == 0 and "tsvq/tiny" in table.stdout and "0.0456" in table.stdout


@pytest.mark.parametrize("file_name", ["model.safetensors", "README.md", "config.json"])
def test_a_one_byte_edit_is_refused(package: Path, file_name: str) -> None:
    path = package / "tsvq" / "tokens" / "shipped" / "tiny" / file_name
    raw = bytearray(path.read_bytes())
    raw[len(raw) // 2] ^= 0x01
    path.write_bytes(bytes(raw))
    proc = _tsvq(package, "eval", "--checkpoint", "tsvq/tiny", "--dset", "etth1")
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
    assert f"{path} does not match its sha256 in tsvq's manifest" in proc.stderr


def test_an_unknown_tsvq_name_lists_the_shipped_ones(package: Path) -> None:
    proc = _tsvq(package, "encode", "--checkpoint", "tsvq/ettx", "--out", "t.npz")
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1, proc.stderr
    shipped = ", ".join(catalog.names(package / "tsvq" / "tokens" / "shipped"))
    assert "tsvq/tiny" in shipped  # with the ones this checkout ships (tsvq/ett)
    said = f"tsvq/ettx is not a tokenizer shipped with tsvq: the shipped ones are {shipped} ("
    assert said in proc.stderr


def test_a_file_not_shipped_beside_them_is_refused(package: Path) -> None:
    (package / "tsvq" / "tokens" / "shipped" / "tiny" / "extra.bin").write_bytes(b"x")
    proc = _tsvq(package, "pretrained")
    assert proc.returncode == 2 and "holds file(s) tsvq did not ship (extra.bin)" in proc.stderr


def test_every_shipped_tokenizer_of_this_checkout_loads() -> None:
    """The folders this checkout ships (none before the first is committed) pass the manifest
    and the folder door, and their cards give the listing's figures."""
    for name in catalog.names():
        tok = Tokenizer.from_pretrained(name)
        assert tok.run.source == name
        card = catalog.card_figures(catalog.folder(name) / catalog.CARD)
        assert card.test_mse is not None and card.baseline_mse is not None, name


def test_the_shipped_tokenizers_stay_small() -> None:
    """The issue's bound: the shipped folders add at most 5 MB to the wheel, each a few hundred
    KB (config, weights and card)."""
    folders = [catalog.folder(name) for name in catalog.names()]
    sizes = {f.name: sum(p.stat().st_size for p in f.iterdir()) for f in folders}
    assert sum(sizes.values()) <= 5_000_000, sizes
    assert all(size <= 1_000_000 for size in sizes.values()), sizes
