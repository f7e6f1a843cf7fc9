"""Shared fixtures: the benchmark data directory and a tiny trained checkpoint."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
# Absolute, and exported: tests change folders and start subprocesses, and a relative
# TSVQ_DATA_DIR (as the README's command gives) would then point elsewhere.
DATA_DIR = Path(os.environ.get("TSVQ_DATA_DIR") or REPO.parent / "shared" / "data").resolve()
os.environ["TSVQ_DATA_DIR"] = str(DATA_DIR)

# Small settings that still run the real code path end to end.
TINY = ["--context_points", "96", "--max_steps_per_epoch", "8", "--batch_size", "32"]


@pytest.fixture(scope="session")
def data_dir() -> Path:
    if not (DATA_DIR / "ETT-small" / "ETTh1.csv").exists():
        pytest.fail(f"benchmark data not found under {DATA_DIR}; set TSVQ_DATA_DIR")
    return DATA_DIR


@pytest.fixture(autouse=True)
def _data_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TSVQ_DATA_DIR", str(DATA_DIR))


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory: pytest.TempPathFactory, data_dir: Path) -> Path:
    """A checkpoint trained for 2 short epochs on ETTh1 (all channels, context 96)."""
    from tsvq.cli import main

    out = tmp_path_factory.mktemp("tiny_run")
    os.environ["TSVQ_DATA_DIR"] = str(data_dir)
    rc = main(["train", "--dset", "etth1", "--n_epochs", "2", "--save_path", str(out), *TINY])
    assert rc == 0
    return out / "etth1" / "vqvae_cw96_ps16_ed32_cf4_cb256_model1.pth"
