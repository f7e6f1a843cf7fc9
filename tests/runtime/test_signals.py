"""tsvq.signals: SIGTERM, sent for real to a training process, takes the Ctrl-C path: one line
naming what is on disk, exit status 143, no temporaries, no lock left."""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

from robust_helpers import FAULT_RUN, NAME, PYTHON, needs_data, no_temporaries, subprocess_env


@needs_data
def test_sigterm_is_ctrl_c_with_exit_143(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [
            PYTHON,
            "-m",
            "tsvq",
            *FAULT_RUN,
            "--n_epochs",
            "50",
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
    assert no_temporaries(tmp_path)
    assert not (tmp_path / "illness" / f".{NAME}.lock").exists()
