"""Shared fixtures: the benchmark data directory and a tiny trained checkpoint."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _benchmark_dir() -> Path:
    """`$TSVQ_DATA_DIR`, else `../shared/data`; where neither holds the ETT files (a fresh
    clone), a temporary folder holding the ETT family decompressed from tsvq's embedded copies
    (checked against the registry's sha256 on the way), so the suite runs with no data at all.
    """
    path = Path(os.environ.get("TSVQ_DATA_DIR") or REPO.parent / "shared" / "data").resolve()
    if (path / "ETT-small" / "ETTh1.csv").exists():
        return path
    from tsvq.data import embedded
    from tsvq.data.registry import REGISTRY

    tmp = Path(tempfile.mkdtemp(prefix="tsvq-test-data-"))
    atexit.register(shutil.rmtree, tmp, True)
    for spec in REGISTRY.values():
        if (src := embedded.path_of(spec.file)) is not None:
            (tmp / spec.file).parent.mkdir(parents=True, exist_ok=True)
            (tmp / spec.file).write_bytes(embedded.verified_bytes(src, spec.sha256, spec.size))
    return tmp


# Absolute, and exported: tests change folders and start subprocesses, and a relative
# TSVQ_DATA_DIR (as the README's command gives) would then point elsewhere.
DATA_DIR = _benchmark_dir()
os.environ["TSVQ_DATA_DIR"] = str(DATA_DIR)


def require_dataset(dset: str) -> None:
    """Skip the calling test when `dset`'s file is absent (only ETT ships inside tsvq)."""
    from tsvq.data.registry import REGISTRY

    if not (DATA_DIR / REGISTRY[dset].file).exists():
        pytest.skip(f"{dset} is not in {DATA_DIR}; set TSVQ_DATA_DIR to the benchmark data")


# Small settings that still run the real code path end to end.
TINY = ["--context_points", "96", "--max_steps_per_epoch", "8", "--batch_size", "32"]


@pytest.fixture(scope="session")
def data_dir() -> Path:
    if not (DATA_DIR / "ETT-small" / "ETTh1.csv").exists():
        pytest.fail(f"benchmark data not found under {DATA_DIR}; set TSVQ_DATA_DIR")
    return DATA_DIR


@pytest.fixture(autouse=True)
def _data_env(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    monkeypatch.setenv("TSVQ_DATA_DIR", str(DATA_DIR))
    # never the user's own ~/.local/share/tsvq: tests see only the data they are given
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path_factory.getbasetemp() / "no-user-data"))


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory: pytest.TempPathFactory, data_dir: Path) -> Path:
    """A checkpoint trained for 2 short epochs on ETTh1 (all channels, context 96)."""
    from tsvq.cli import main

    out = tmp_path_factory.mktemp("tiny_run")
    os.environ["TSVQ_DATA_DIR"] = str(data_dir)
    rc = main(["train", "--dset", "etth1", "--n_epochs", "2", "--save_path", str(out), *TINY])
    assert rc == 0
    return out / "etth1" / "vqvae_cw96_ps16_ed32_cf4_cb256_model1.pth"
