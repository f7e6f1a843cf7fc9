"""`tsvq forecast train` under torchrun (two CPU processes, gloo): one set of files, lines
printed once, the contexts encoded in shares that add up to one process's codes, and the logged
validation MSE equal to one process scoring the same series with the saved weights."""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from tsvq import Tokenizer
from tsvq.data.windows import DataSpec, epoch_order, load
from tsvq.forecast.inputs import batches, encode_split
from tsvq.forecast.record import build, load_record

pytestmark = pytest.mark.dataset("illness")


def test_two_processes_train_one_forecaster(
    tokenizer: Path,
    tmp_path: Path,
    subprocess_env,
    repo: Path,
    forecast_flags: tuple[str, ...],
    forecaster_name: str,
) -> None:
    argv = ["forecast", "train", "--checkpoint", str(tokenizer), *forecast_flags]
    argv += ["--n_epochs", "1"]
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]
    done = subprocess.run(
        [*cmd, "-m", "tsvq", *argv, "--save_path", str(tmp_path)],
        cwd=tmp_path,
        env=subprocess_env(),  # one thread per process
        capture_output=True,
        text=True,
        timeout=300,  # a hang (a collective one process skips) fails instead of stalling
    )
    assert done.returncode == 0, done.stdout + done.stderr[-4000:]
    lines = done.stdout.splitlines()
    assert [line[:11] for line in lines if line.startswith("Epoch")] == ["Epoch   1/1"]
    assert sum(line.startswith("Forecaster on the codes of") for line in lines) == 1
    folder = tmp_path / "illness"
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        forecaster_name + s for s in (".pth", "_last.pth", "_history.csv")
    )
    with open(folder / f"{forecaster_name}_history.csv", newline="") as fh:
        logged = float(next(csv.DictReader(fh))["valid_mse"])

    # one process, the saved weights, the validation series the run drew (4 batches of 32 on
    # each of 2 processes), codes made whole here
    tok = Tokenizer.from_pretrained(tokenizer)
    record = load_record(folder / f"{forecaster_name}_last.pth")
    model = build(record, tok.codebook, folder).eval()
    windows = load(DataSpec("illness", None, None, 96)).forecast_windows("val", 24)
    codes = encode_split(tok, windows, 96)
    order = epoch_order(windows.shape[0] * 7, 0, 0, shuffle=False, limit=4 * 32 * 2)
    se, n = 0.0, 0
    with torch.inference_mode():
        for b in batches(windows, order, 64, 96, codes):
            err = model(b.context, b.mean, b.std, b.ids).scaled(b.mean, b.std) - b.target
            se, n = se + float(err.double().pow(2).sum()), n + err.numel()
    assert np.isclose(logged, se / n, rtol=1e-5), (logged, se / n)
