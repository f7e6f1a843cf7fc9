"""tsvq.files: every write is atomic (a SIGKILL at any moment leaves the old file or the new one),
gets the usual mode, and a failure leaves nothing half-written; a real file-size limit is one
line and exit status 1."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from tsvq.files import stale_temporaries, write_text, write_with
from tsvq.run import checkpoint

WRITER = """
import sys, torch
from tsvq.run import checkpoint
print("ready", flush=True)
for i in range(1, 100_000):
    checkpoint.save(sys.argv[1], {"model_state_dict": {"w": torch.full((300_000,), float(i))},
                    "config": {}, "args": {}, "epoch": i, "train_loss": 0.0, "val_loss": 0.0})
"""


@pytest.mark.parametrize("delay", [0.0, 0.05, 0.2, 0.45])
def test_sigkill_at_any_moment_leaves_a_loadable_checkpoint(
    tmp_path: Path, delay: float, good_checkpoint: dict, subprocess_env
) -> None:
    path = tmp_path / "model.pth"
    checkpoint.save(
        path, {**good_checkpoint, "model_state_dict": {"w": torch.zeros(300_000)}, "epoch": 0}
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(path)],
        env=subprocess_env(),
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout.readline() == "ready\n"
    time.sleep(delay)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    state = checkpoint.load(path)
    w = state["model_state_dict"]["w"]
    assert (w == state["epoch"]).all(), "a checkpoint mixing two writes"
    assert len(stale_temporaries(path)) <= 1


def test_written_files_get_the_usual_mode(tmp_path: Path, good_checkpoint: dict) -> None:
    checkpoint.save(tmp_path / "m.pth", good_checkpoint)
    mask = os.umask(0)
    os.umask(mask)
    assert (tmp_path / "m.pth").stat().st_mode & 0o777 == 0o666 & ~mask


def test_failed_write_leaves_nothing(tmp_path: Path) -> None:
    def writer(tmp: Path) -> None:
        tmp.write_text("half")
        raise ArithmeticError("stopped halfway")  # not a write error: passes through

    with pytest.raises(ArithmeticError):
        write_with(tmp_path / "a" / "b" / "m.txt", writer)
    assert list(tmp_path.iterdir()) == []  # no file, no temporary, no folders made for it
    keep = tmp_path / "keep.txt"
    write_text(keep, "old")
    with pytest.raises(ArithmeticError):
        write_with(keep, writer)
    assert keep.read_text() == "old" and list(tmp_path.iterdir()) == [keep]


@pytest.mark.dataset("illness")
@pytest.mark.parametrize("limit", [4096, 200_000])
def test_file_size_limit_is_one_line_and_exit_1(
    tmp_path: Path, limit: int, fault_run, run_tsvq, no_temporaries
) -> None:
    proc = run_tsvq([*fault_run, "--save_path", str(tmp_path / "out")], limit=limit)
    assert proc.returncode == 1, proc.stderr
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
    assert "cannot write" in proc.stderr and "File too large" in proc.stderr, proc.stderr
    assert no_temporaries(tmp_path)
    # the configs come with the model: a run that could not write its model leaves neither
    models, configs = list(tmp_path.rglob("*.pth")), list(tmp_path.rglob("*.json"))
    assert models or not configs, configs


def test_encode_temporary_arrays_fail_in_one_line(
    tmp_path: Path, tiny_run: Path, run_tsvq, no_temporaries, monkeypatch: pytest.MonkeyPatch
) -> None:
    """encode streams its arrays into TMPDIR before zipping them into --out: a file-size limit
    met there is `cannot write`, exit 1, and leaves no temporary (issue 25, class 7)."""
    tmpdir = tmp_path / "tmp"
    tmpdir.mkdir()
    monkeypatch.setenv("TMPDIR", str(tmpdir))  # the process's environment is read from here
    out = tmp_path / "t.npz"
    proc = run_tsvq(["encode", "--checkpoint", str(tiny_run), "--out", str(out)], limit=8192)
    assert proc.returncode == 1, proc.stderr
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert f"cannot write the temporary arrays of {out} (in {tmpdir})" in proc.stderr
    assert "File too large" in proc.stderr, proc.stderr
    assert not out.exists() and no_temporaries(tmp_path)
    assert list(tmpdir.iterdir()) == []


def test_a_write_removes_what_a_killed_writer_left_and_nothing_else(tmp_path: Path) -> None:
    """Temporaries carry their writer's host and pid: the next write of the same file removes
    those of a writer that is gone, never a live one's or another host's (issue 25, class 10)."""
    from tsvq.files import _HOST

    gone = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True
    )
    dead = int(gone.stdout)
    path = tmp_path / "m.json"
    left = {
        "dead": tmp_path / f".m.json.{_HOST}-{dead}.abc123.tmp",
        "live": tmp_path / f".m.json.{_HOST}-{os.getpid()}.def456.tmp",
        "other host": tmp_path / f".m.json.elsewhere-{dead}.ghi789.tmp",
        "old style": tmp_path / ".m.json.jkl012.tmp",
    }
    for p in left.values():
        p.write_text("half")
    write_text(path, "{}")
    assert path.read_text() == "{}"
    assert sorted(stale_temporaries(path)) == sorted(v for k, v in left.items() if k != "dead")


def test_a_killed_writers_temporary_is_gone_after_the_next_write(
    tmp_path: Path, good_checkpoint: dict, subprocess_env
) -> None:
    path = tmp_path / "model.pth"
    zeros = {"w": torch.zeros(300_000)}
    checkpoint.save(path, {**good_checkpoint, "model_state_dict": zeros, "epoch": 0})
    for _ in range(20):  # until a kill lands while a temporary exists
        proc = subprocess.Popen(
            [sys.executable, "-c", WRITER, str(path)],
            env=subprocess_env(),
            stdout=subprocess.PIPE,
            text=True,
        )
        assert proc.stdout.readline() == "ready\n"
        time.sleep(0.3)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        if stale_temporaries(path):
            break
    assert stale_temporaries(path), "no kill left a temporary in 20 tries"
    checkpoint.save(path, good_checkpoint)
    assert stale_temporaries(path) == [] and checkpoint.load(path)["epoch"] == 1
