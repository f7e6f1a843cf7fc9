"""`tsvq train --log_dir`: real TensorBoard event files, or one line naming what to install."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest


def test_event_files_hold_every_epoch(
    tmp_path: Path, run_cli, tiny_args: tuple[str, ...], run_name: str
) -> None:
    pytest.importorskip("tensorboard", reason="pip install 'tsvq[tensorboard]' (in [dev])")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    rc, _out, err = run_cli(
        [
            "train",
            "--dset",
            "etth1",
            "--n_epochs",
            "2",
            *tiny_args,
            "--save_path",
            str(tmp_path / "runs"),
            "--log_dir",
            str(tmp_path / "tb"),
        ]
    )
    assert rc == 0, err
    acc = EventAccumulator(str(tmp_path / "tb" / run_name), size_guidance={"histograms": 0})
    acc.Reload()
    tags = acc.Tags()
    for tag in (
        "loss/train",
        "loss/valid",
        "recon_loss/valid",
        "vq_loss/train",
        "perplexity/valid",
        "codes_used/train",
        "train/lr",
    ):
        assert [e.step for e in acc.Scalars(tag)] == [1, 2], tag
    history = (tmp_path / "runs" / "etth1" / f"{run_name}_history.csv").read_text().splitlines()
    header, last = history[0].split(","), history[-1].split(",")
    logged = acc.Scalars("loss/valid")[-1].value
    assert logged == pytest.approx(float(last[header.index("valid_loss")]), rel=1e-6)
    assert set(tags["histograms"]) == {"code_usage/train", "code_usage/valid"}
    hist = acc.Histograms("code_usage/valid")[-1].histogram_value
    used = sum(1 for c in hist.bucket if c > 0)
    assert used == int(float(last[header.index("valid_codes_used")]))


def test_log_dir_without_tensorboard_is_one_line(
    tmp_path: Path, repo: Path, tiny_args: tuple[str, ...]
) -> None:
    """With the package absent (as Python sees a missing module): one line, exit 2, nothing
    written."""
    code = (
        "import sys; sys.modules['tensorboard'] = None; "
        "from tsvq.cli import main; sys.exit(main(sys.argv[1:]))"
    )
    env = {**os.environ, "PYTHONPATH": str(repo / "src"), "OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            code,
            "train",
            "--dset",
            "etth1",
            *tiny_args,
            "--save_path",
            str(tmp_path / "runs"),
            "--log_dir",
            str(tmp_path / "tb"),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "pip install 'tsvq[tensorboard]'" in lines[0], lines
    assert not (tmp_path / "runs").exists() and not (tmp_path / "tb").exists()
