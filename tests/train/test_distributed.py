"""Two CPU processes under torchrun (gloo): one model, one codebook, exact metrics, one output."""

from __future__ import annotations

import contextlib
import functools
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
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


# ---- processes that disagree, hang or are stopped (issue 25, class 4) -----------------------

RANKS = Path(__file__).with_name("ddp_rank.py")
RUN = [*TINY, "--n_epochs", "1", "--max_steps_per_epoch", "2"]


@pytest.fixture
def launch(
    repo: Path, data_dir: Path
) -> Callable[..., contextlib.AbstractContextManager[subprocess.Popen]]:
    """`with launch(out, tokens, env) as proc`: torchrun with two processes of ddp_rank.py in a
    session of their own, all of which are killed when the block ends, whatever happened."""
    return functools.partial(_launch, repo, data_dir)


@contextlib.contextmanager
def _launch(
    repo: Path, data_dir: Path, out: Path, tokens: list[str], env: dict[str, str] | None = None
) -> Iterator[subprocess.Popen]:
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]
    cmd += [str(RANKS), str(out), *tokens, "--", "train", *RUN, "--save_path", str(out / "o")]
    full = {
        **os.environ,
        "TSVQ_DATA_DIR": str(data_dir),
        "OMP_NUM_THREADS": "1",
        "PYTHONPATH": os.pathsep.join([str(repo / "src"), os.environ.get("PYTHONPATH", "")]),
        **(env or {}),
    }
    pipes = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE}
    proc = subprocess.Popen(cmd, cwd=out, env=full, start_new_session=True, **pipes)
    try:
        yield proc
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def _ours(stderr: bytes) -> list[str]:
    """tsvq's own lines (torchrun adds a report of its own when a process fails)."""
    return [line for line in stderr.decode().splitlines() if line.startswith("tsvq train:")]


def test_processes_started_with_other_flags_all_stop_with_one_line(tmp_path: Path, launch) -> None:
    with launch(tmp_path, ["1:--lr=0.001"]) as proc:
        _out, err = proc.communicate(timeout=240)
    assert proc.returncode != 0
    assert _ours(err) == [
        "tsvq train: error: the 2 processes of this run were not started alike: lr is 0.001 in "
        "process 1, 0.0001 in process 0; start every process with the same flags, data and seed"
    ], err.decode()[-3000:]
    assert not (tmp_path / "o").exists()  # nothing written


def test_a_process_that_hangs_times_the_others_out(tmp_path: Path, launch) -> None:
    t0 = time.monotonic()
    with launch(tmp_path, ["1:sleep=120"], {"TSVQ_DIST_TIMEOUT": "5"}) as proc:
        _out, err = proc.communicate(timeout=240)
    assert proc.returncode != 0 and time.monotonic() - t0 < 100, err.decode()[-3000:]
    (line,) = _ours(err)
    assert line.startswith("tsvq train: error: process 0 of 2: a collective failed (Timed out")
    assert "another process of this run stopped, or hangs (a collective waits 5 s" in line


def test_sigterm_ends_a_process_waiting_in_a_collective(tmp_path: Path, launch) -> None:
    with launch(tmp_path, ["1:sleep=200"]) as proc:  # process 0 then waits for process 1
        pid = tmp_path / "pid0"
        deadline = time.monotonic() + 60
        while not pid.exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        time.sleep(15)  # process 0 loads its data and reaches the first collective
        t0 = time.monotonic()
        os.kill(int(pid.read_text()), signal.SIGTERM)
        _out, err = proc.communicate(timeout=120)
        assert time.monotonic() - t0 < 60, "SIGTERM did not end a process waiting in a collective"
    assert _ours(err) == [
        "tsvq train: interrupted: stopped by SIGTERM while it waited for another process"
    ], err.decode()[-3000:]
