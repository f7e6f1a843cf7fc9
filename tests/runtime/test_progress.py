"""Progress bars: on a terminal or in a notebook, never in a log file."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tsvq.runtime.progress import in_notebook, show_progress


def test_no_bar_in_a_log_file(
    tmp_path: Path, repo: Path, tiny_args: tuple[str, ...], subprocess_env
) -> None:
    log = tmp_path / "train.log"
    with open(log, "w") as fh:
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "tsvq",
                "train",
                "--dset",
                "etth1",
                "--n_epochs",
                "1",
                *tiny_args,
                "--save_path",
                str(tmp_path / "o"),
            ],
            cwd=repo,
            env=subprocess_env(),
            stdout=fh,
            stderr=fh,
            timeout=300,
        )
    text = log.read_text()
    assert done.returncode == 0, text
    assert "\r" not in text and "it/s" not in text, text[-500:]
    assert "Number of channels: 7" in text and "Epoch   1/1" in text


def test_this_process_shows_no_bar() -> None:
    # pytest captures stderr (not a terminal) and this is no Jupyter kernel
    assert not in_notebook()
    assert show_progress() == sys.stderr.isatty()
