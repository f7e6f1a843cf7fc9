"""tsvq.signals: SIGTERM, sent for real to a training process, takes the Ctrl-C path: one line
naming what is on disk, exit status 143, no temporaries, no lock left."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tsvq.runtime.signals import command_signals, deferred, interrupted_status


@pytest.mark.dataset("illness")
def test_sigterm_is_ctrl_c_with_exit_143(
    tmp_path: Path, fault_run, run_name: str, subprocess_env, no_temporaries
) -> None:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tsvq",
            *fault_run,
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
    last = tmp_path / "illness" / f"{run_name}_last.pth"
    # bounded by time, not by polls: on a busy machine importing torch alone takes many seconds,
    # and a SIGTERM before the handler is installed is the default action, not tsvq's
    deadline = time.monotonic() + 300
    while not last.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    proc.send_signal(signal.SIGTERM)
    _out, err = proc.communicate(timeout=120)
    assert proc.returncode == 143, err
    assert err.count("\n") == 1 and "interrupted: training stopped" in err, err
    # the line says what is on disk: the state to resume from, or that no epoch had finished
    assert ("--resume" in err) == last.exists(), err
    assert no_temporaries(tmp_path)
    assert not (tmp_path / "illness" / f".{run_name}.lock").exists()


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_deferred_finishes_the_block_then_interrupts(sig: signal.Signals) -> None:
    """A signal inside `deferred` waits for the block (the file and the record that it is
    there), then raises as it would have; the handlers before the block are back."""
    done = []
    with command_signals():
        before = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
        with pytest.raises(KeyboardInterrupt), deferred():
            os.kill(os.getpid(), sig)
            time.sleep(0.05)  # the handler has run by now, outside a deferred block
            done.append("after the signal")
        assert done == ["after the signal"]
        assert {s: signal.getsignal(s) for s in before} == before
        assert interrupted_status() == (143 if sig == signal.SIGTERM else 130)


def test_deferred_without_a_signal_and_with_an_error() -> None:
    with deferred():
        pass
    with pytest.raises(ValueError, match="the block's own"), deferred():
        os.kill(os.getpid(), signal.SIGINT)
        raise ValueError("the block's own error comes first")
