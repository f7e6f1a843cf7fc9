"""Two CPU processes under torchrun (gloo): one model, one codebook, exact metrics, one output."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.dataset("illness")

# illness channel 0 at context 96: 581 training series, so the shards need wrapping
TINY = [
    "--dset",
    "illness",
    "--channel",
    "0",
    "--context_points",
    "96",
    "--batch_size",
    "16",
    "--dead_code_restart",
    "4",
    "--amp",
    "0",
]


def torchrun(repo: Path, data_dir: Path, *args: str) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "TSVQ_DATA_DIR": str(data_dir),
        "OMP_NUM_THREADS": "1",
        "PYTHONPATH": os.pathsep.join([str(repo / "src"), os.environ.get("PYTHONPATH", "")]),
    }
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node",
        "2",
        *args,
    ]
    # a hang (a collective one process skips) fails the test instead of stalling the suite
    done = subprocess.run(cmd, cwd=repo, env=env, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, f"{' '.join(args)} failed:\n{done.stdout}\n{done.stderr[-4000:]}"
    return done


@pytest.fixture(scope="module")
def worker_report(tmp_path_factory: pytest.TempPathFactory, repo: Path, data_dir: Path) -> dict:
    out = tmp_path_factory.mktemp("ddp_worker")
    torchrun(repo, data_dir, str(repo / "tests" / "train" / "ddp_worker.py"), str(out))
    report = json.loads((out / "result.json").read_text())
    assert report["world_size"] == 2
    return report["runs"]


@pytest.mark.parametrize("quantizer", ["ema", "vq"])
def test_codebook_identical_on_every_process_at_every_step(
    worker_report: dict, quantizer: str
) -> None:
    run = worker_report[quantizer]
    assert run["steps"][0] == 1 and len(run["steps"]) == 38, "expected 19 steps x 2 epochs"
    assert run["restarts"] > 0, "the run should have restarted dead codes"
    assert run["every_step_agrees"], "codebook or quantizer buffers differ between processes"
    assert run["state_disagrees"] == [], f"final state differs: {run['state_disagrees']}"
    assert run["results_agree"], "processes disagree on history, best epoch or early stopping"


@pytest.mark.parametrize("quantizer", ["ema", "vq"])
def test_validation_metrics_equal_one_process(worker_report: dict, quantizer: str) -> None:
    one, logged = (
        worker_report[quantizer]["single_process_val"],
        worker_report[quantizer]["logged_val"],
    )
    assert one["n_series"] == 97
    for key in ("valid_loss", "valid_recon_loss", "valid_perplexity"):
        assert logged[key] == pytest.approx(one[key], rel=1e-6), key
    assert logged["valid_codes_used"] == one["valid_codes_used"]


def test_resumed_under_torchrun_repeats_unbroken_run(worker_report: dict) -> None:
    resumed, unbroken = worker_report["resumed"], worker_report["ema"]
    assert resumed["every_step_agrees"] and resumed["state_disagrees"] == []
    assert resumed["history"] == unbroken["history"]


def test_both_entry_points_print_once_and_write_one_set_of_files(
    tmp_path: Path, repo: Path, data_dir: Path, run_name: str
) -> None:
    first = torchrun(
        repo, data_dir, "vqvae_train.py", *TINY, "--n_epochs", "1", "--save_path", str(tmp_path)
    )
    lines = first.stdout.splitlines()
    assert [line[:11] for line in lines if line.startswith("Epoch")] == ["Epoch   1/1"]
    assert sum(line.startswith("Number of channels: ") for line in lines) == 1
    assert "Distributed: 2 processes, batch 16 each (32 series per step)" in lines
    files = sorted(p.name for p in (tmp_path / "illness").iterdir())
    assert files == sorted(
        run_name + s for s in (".pth", "_last.pth", "_history.csv", "_config.json", "_run.json")
    )

    # --resume needs the same flags (n_epochs shapes the schedule): a finished run resumes
    # to nothing new, through the other entry point, and says so once
    again = torchrun(
        repo,
        data_dir,
        "-m",
        "tsvq",
        "train",
        *TINY,
        "--n_epochs",
        "1",
        "--resume",
        "--save_path",
        str(tmp_path),
    )
    lines = again.stdout.splitlines()
    assert sum(line.startswith("Resuming from") for line in lines) == 1
    assert sum(line.startswith("Best model: epoch 1, validation loss ") for line in lines) == 1
    assert not [line for line in lines if line.startswith("Epoch")]
    history = (tmp_path / "illness" / f"{run_name}_history.csv").read_text().splitlines()
    assert [row.split(",")[0] for row in history[1:]] == ["1"]
    assert sorted(p.name for p in (tmp_path / "illness").iterdir()) == files
