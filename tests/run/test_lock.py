"""tsvq.runlock: one run per run folder. A second process on a live folder is refused naming the
owner; a killed owner's lock is taken over, and a new run over finished files sets them aside."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest


@pytest.mark.dataset("illness")
def test_second_run_on_a_live_folder_is_refused_and_a_rerun_keeps_the_first(
    tmp_path: Path, fault_run, run_name: str, subprocess_env, run_tsvq
) -> None:
    live = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tsvq",
            *fault_run,
            "--n_epochs",
            "500",
            "--patience",
            "400",  # no early stop: the run must outlive the second one (it is killed below)
            "--max_steps_per_epoch",
            "3",
            "--save_path",
            str(tmp_path),
        ],
        env=subprocess_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    lock = tmp_path / "illness" / f".{run_name}.lock"
    try:
        for _ in range(3000):
            if lock.exists() and lock.read_text():
                break
            time.sleep(0.02)
        proc = run_tsvq([*fault_run, "--save_path", str(tmp_path)])
        assert proc.returncode == 2 and f"process {live.pid} " in proc.stderr, proc.stderr
        assert proc.stderr.count("\n") == 1
    finally:
        live.kill()  # SIGKILL: the lock file stays, the lock does not
        live.communicate(timeout=60)
    best = tmp_path / "illness" / f"{run_name}.pth"
    first = best.read_bytes() if best.exists() else None
    proc = run_tsvq([*fault_run, "--save_path", str(tmp_path)])  # takes the stale lock over
    assert proc.returncode == 0, proc.stderr
    assert "An earlier run's files were moved to" in proc.stdout
    kept = list((tmp_path / "illness" / "previous").glob(f"{run_name}-*"))
    assert len(kept) == 1
    if first is not None:  # the earlier best model is kept byte for byte
        assert (kept[0] / best.name).read_bytes() == first
    assert not lock.exists()
