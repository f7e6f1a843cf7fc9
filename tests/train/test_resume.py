"""Resume: a run killed (SIGKILL) or interrupted (Ctrl-C, SIGTERM) mid-epoch, resumed with --resume,
ends with the same history and weights, bit for bit, as one that was never stopped (CPU)."""

from __future__ import annotations

import csv
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from tsvq.errors import TsvqError
from tsvq.files import stale_temporaries
from tsvq.run import checkpoint

pytestmark = pytest.mark.dataset("illness")

# a run small enough for a shared 2-core machine: illness has 966 rows, 7 channels
TINY = ["--dset", "illness", "--context_points", "96", "--max_steps_per_epoch", "5"]
# restarts every 3 steps with 5 steps per epoch: codebook-health state crosses each boundary
ARGS = [*TINY, "--n_epochs", "4", "--batch_size", "32", "--dead_code_restart", "3", "--seed", "7"]


def _files(save: Path, name: str) -> dict[str, Path]:
    d = save / "illness"
    return {
        "best": d / f"{name}.pth",
        "last": d / f"{name}_last.pth",
        "history": d / f"{name}_history.csv",
        "config": d / f"{name}_config.json",
    }


def _train(env: dict[str, str], save: Path, *extra: str) -> tuple[int, str, str]:
    """A run in its own process, as a user starts it (the reference and every resume)."""
    proc = subprocess.run(
        [sys.executable, "-m", "tsvq", "train", *ARGS, "--save_path", str(save), *extra],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    return proc.returncode, proc.stdout, proc.stderr


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory, subprocess_env) -> Path:
    save = tmp_path_factory.mktemp("reference")
    rc, _out, err = _train(subprocess_env(), save)
    assert rc == 0, err
    return save


def _history(save: Path, name: str) -> list[dict[str, str]]:
    with open(_files(save, name)["history"], newline="") as fh:
        return [{k: v for k, v in row.items() if k != "seconds"} for row in csv.DictReader(fh)]


def _assert_same_run(save: Path, reference: Path, name: str) -> None:
    assert _history(save, name) == _history(reference, name)  # repr of every float: bitwise equal
    for kind in ("best", "last"):
        got = checkpoint.load(_files(save, name)[kind])
        want = checkpoint.load(_files(reference, name)[kind])
        assert got["epoch"] == want["epoch"]
        for key, tensor in want["tsvq"]["state"].items():  # the quantizer's own state
            assert torch.equal(got["tsvq"]["state"][key], tensor), (kind, key)
        for key, tensor in want["model_state_dict"].items():
            assert torch.equal(got["model_state_dict"][key], tensor), (kind, key)
    got, want = (
        checkpoint.load_run(_files(save, name)["last"]).resume,
        checkpoint.load_run(_files(reference, name)["last"]).resume,
    )
    for a, b in zip(got.optimizer["state"].values(), want.optimizer["state"].values(), strict=True):
        assert all(torch.equal(a[k], b[k]) for k in b)


def _start(env: dict[str, str], save: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "tsvq", "train", *ARGS, "--save_path", str(save)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait_for_state(proc: subprocess.Popen, last: Path, epoch: int) -> None:
    """Poll (bounded) until the run has saved the state after `epoch`: epoch+1 has begun."""
    for _ in range(3000):
        if last.exists():
            try:
                if checkpoint.load(last)["epoch"] + 1 >= epoch:  # the file counts from 0
                    return
            except TsvqError:
                pass  # cannot happen with atomic writes; the test below would show it
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.02)
    proc.kill()
    pytest.fail(f"no state after epoch {epoch} within a minute")


def test_sigkill_mid_epoch_then_resume_matches_an_uninterrupted_run(
    tmp_path: Path, reference: Path, run_name: str, subprocess_env
) -> None:
    files = _files(tmp_path, run_name)
    proc = _start(subprocess_env(), tmp_path)
    _wait_for_state(proc, files["last"], 2)
    proc.send_signal(signal.SIGKILL)
    out, _err = proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    assert "Epoch   3/4" not in out  # killed inside epoch 3
    # what a killed run leaves: every checkpoint loads, the history has the finished epochs
    assert checkpoint.load(files["best"])["epoch"] in (0, 1)  # 0-based, as the original
    assert checkpoint.load(files["last"])["epoch"] == 1
    assert len(_history(tmp_path, run_name)) == 2

    rc, out, err = _train(subprocess_env(), tmp_path, "--resume")
    assert rc == 0, err
    assert f"Resuming from {files['last']} after epoch 2" in out
    _assert_same_run(tmp_path, reference, run_name)
    assert not any(stale_temporaries(p) for p in files.values())


@pytest.mark.parametrize(
    ("sig", "status"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)], ids=["ctrl-c", "sigterm"]
)
def test_ctrl_c_or_sigterm_saves_state_says_so_and_resumes_exactly(
    tmp_path: Path,
    reference: Path,
    sig: signal.Signals,
    status: int,
    run_name: str,
    subprocess_env,
) -> None:
    """SIGTERM (what schedulers and `docker stop` send) takes Ctrl-C's path to the letter."""
    files = _files(tmp_path, run_name)
    proc = _start(subprocess_env(), tmp_path)
    _wait_for_state(proc, files["last"], 1)
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == status, err
    assert err.count("\n") == 1 and "Traceback" not in err
    # the signal lands in epoch 2, or later on a busy machine (the poll above can lag an epoch):
    # the line names the epoch the state file holds, and the run stopped there
    m = re.search(
        r"interrupted: training stopped; the state after epoch (\d) is saved in (\S+); "
        r"continue with the same flags and --resume",
        err,
    )
    assert m and m[2] == str(files["last"]), err
    done = int(m[1])
    assert 1 <= done < 4 and f"Epoch {done + 1:3d}/4" not in out
    assert checkpoint.load(files["last"])["epoch"] == done - 1  # the file counts from 0

    rc, _out, err = _train(subprocess_env(), tmp_path, "--resume")
    assert rc == 0, err
    _assert_same_run(tmp_path, reference, run_name)


@pytest.mark.parametrize(
    ("flag", "value", "needle"),
    [
        ("--lr", "0.001", "lr=0.0001, now 0.001"),
        ("--n_epochs", "6", "n_epochs=4, now 6"),
        ("--seed", "8", "seed=7, now 8"),
        ("--batch_size", "16", "batch_size=32, now 16"),
        ("--features", "S", "features='M', now 'S'"),
        ("--ema_decay", "0.9", "ema_decay=0.99, now 0.9"),
        ("--scaler", "minmax", "scaler='standard', now 'minmax'"),
    ],
)
def test_resume_with_other_settings_is_refused_and_writes_nothing(
    reference: Path, flag: str, value: str, needle: str, data_dir: Path, run_cli, tree
) -> None:
    before = tree(reference)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TSVQ_DATA_DIR", str(data_dir))
        rc, _out, err = run_cli(
            ["train", *ARGS, "--save_path", str(reference), "--resume", flag, value]
        )
    assert rc == 2 and err.count("\n") == 1 and needle in err, err
    assert tree(reference) == before


def test_resume_on_a_changed_data_file_is_refused(tmp_path: Path, run_cli) -> None:
    csv_path = tmp_path / "s.csv"
    rows = [f"2020-01-01 {i // 60:02d}:{i % 60:02d}:00,{(i * 37) % 11}" for i in range(300)]
    csv_path.write_text("date,OT\n" + "\n".join(rows) + "\n")
    argv = [
        "train",
        "--dset",
        "custom",
        "--data_path",
        str(csv_path),
        "--context_points",
        "16",
        "--n_epochs",
        "2",
        "--max_steps_per_epoch",
        "1",
        "--save_path",
        str(tmp_path / "o"),
    ]
    rc, _out, err = run_cli(argv)
    assert rc == 0, err
    csv_path.write_text("date,OT\n" + "\n".join(r + "1" for r in rows) + "\n")
    rc, _out, err = run_cli([*argv, "--resume"])
    assert rc == 2 and "fitted scaler differs" in err, err


def test_resume_without_its_best_model_is_refused_and_writes_nothing(
    reference: Path, tmp_path: Path, data_dir: Path, run_cli, tree, run_name: str
) -> None:
    """A finished run whose best model was moved away: --resume refuses it before any work (it
    ended with 'Model saved to: X' for an X that is not there; issue 25, class 8)."""
    save = tmp_path / "run"
    shutil.copytree(reference, save)
    _files(save, run_name)["best"].unlink()
    before = tree(save)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TSVQ_DATA_DIR", str(data_dir))
        rc, out, err = run_cli(["train", *ARGS, "--save_path", str(save), "--resume"])
    assert rc == 2 and err.count("\n") == 1, err
    # which epoch was best is the run's own (the reference's history); the line names it
    best = _files(save, run_name)["best"]
    needle = rf"the best model of epoch [1-4], {re.escape(str(best))}, is missing"
    assert re.search(needle, err), err
    assert "Model saved to" not in out and tree(save) == before
