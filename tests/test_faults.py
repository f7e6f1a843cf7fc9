"""Faults met for real in a separate process: a file-size limit, SIGTERM, two runs on one
folder, a run over a finished one (issue 12). No mocks: the limit is setrlimit, the signal is
kill, the second run is a second process."""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

import pytest
from robust_helpers import PYTHON, needs_data, subprocess_env

NAME = "vqvae_cw96_ps16_ed32_cf4_cb256_model1"
ARGS = ["train", "--dset", "illness", "--context_points", "96", "--n_epochs", "1",
        "--max_steps_per_epoch", "2"]
LIMITED = ("import resource, sys; resource.setrlimit(resource.RLIMIT_FSIZE, ({0}, {0})); "
           "from tsvq.cli import main; sys.exit(main(sys.argv[1:]))")


def _run(argv: list[str], limit: int | None = None, **kw) -> subprocess.CompletedProcess:
    cmd = [PYTHON, "-c", LIMITED.format(limit), *argv] if limit else [PYTHON, "-m", "tsvq", *argv]
    return subprocess.run(cmd, env=subprocess_env(), capture_output=True, text=True,
                          timeout=300, **kw)


def _no_temporaries(root: Path) -> bool:
    return not [p for p in root.rglob("*") if p.name.endswith(".tmp")]


@needs_data
@pytest.mark.parametrize("limit", [4096, 200_000])
def test_file_size_limit_is_one_line_and_exit_1(tmp_path: Path, limit: int) -> None:
    proc = _run([*ARGS, "--save_path", str(tmp_path / "out")], limit=limit)
    assert proc.returncode == 1, proc.stderr
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
    assert "cannot write" in proc.stderr and "File too large" in proc.stderr, proc.stderr
    assert _no_temporaries(tmp_path)


@needs_data
def test_sigterm_is_ctrl_c_with_exit_143(tmp_path: Path) -> None:
    proc = subprocess.Popen([PYTHON, "-m", "tsvq", *ARGS, "--n_epochs", "50",
                             "--max_steps_per_epoch", "3", "--save_path", str(tmp_path)],
                            env=subprocess_env(), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    last = tmp_path / "illness" / f"{NAME}_last.pth"
    for _ in range(3000):
        if last.exists() or proc.poll() is not None:
            break
        time.sleep(0.02)
    proc.send_signal(signal.SIGTERM)
    _out, err = proc.communicate(timeout=120)
    assert proc.returncode == 143, err
    assert err.count("\n") == 1 and "interrupted: training stopped" in err, err
    # the line says what is on disk: the state to resume from, or that no epoch had finished
    assert ("--resume" in err) == last.exists(), err
    assert _no_temporaries(tmp_path)
    assert not (tmp_path / "illness" / f".{NAME}.lock").exists()


@needs_data
def test_second_run_on_a_live_folder_is_refused_and_a_rerun_keeps_the_first(
        tmp_path: Path) -> None:
    live = subprocess.Popen([PYTHON, "-m", "tsvq", *ARGS, "--n_epochs", "50",
                             "--max_steps_per_epoch", "3", "--save_path", str(tmp_path)],
                            env=subprocess_env(), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    lock = tmp_path / "illness" / f".{NAME}.lock"
    try:
        for _ in range(3000):
            if lock.exists() and lock.read_text():
                break
            time.sleep(0.02)
        proc = _run([*ARGS, "--save_path", str(tmp_path)])
        assert proc.returncode == 2 and f"process {live.pid} " in proc.stderr, proc.stderr
        assert proc.stderr.count("\n") == 1
    finally:
        live.kill()  # SIGKILL: the lock file stays, the lock does not
        live.communicate(timeout=60)
    best = tmp_path / "illness" / f"{NAME}.pth"
    first = best.read_bytes() if best.exists() else None
    proc = _run([*ARGS, "--save_path", str(tmp_path)])  # takes the stale lock over
    assert proc.returncode == 0, proc.stderr
    assert "An earlier run's files were moved to" in proc.stdout
    kept = list((tmp_path / "illness" / "previous").glob(f"{NAME}-*"))
    assert len(kept) == 1
    if first is not None:  # the earlier best model is kept byte for byte
        assert (kept[0] / best.name).read_bytes() == first
    assert not lock.exists()
