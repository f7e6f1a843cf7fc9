"""`tsvq plot`: the pictures hold what a reader needs (labels, target channel, every series)."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tsvq.errors import TsvqError
from tsvq.report.plot import HISTORY_PANELS, pick_channels

ETT = ["HUFL", "HULL", "MUFL", "MULL", "LUFL", "LULL", "OT"]


@pytest.mark.parametrize(
    ("columns", "target", "wanted", "expected"),
    [
        (ETT, "OT", None, [0, 1, 2, 6]),  # the target is always drawn
        (ETT, "HUFL", None, [0, 1, 2, 3]),
        (ETT[:2], "OT", None, [0, 1]),  # S/--channel runs: fewer columns than four
        (ETT, "OT", ["OT", "0", "OT"], [6, 0]),  # names or indices, in the order asked
    ],
)
def test_pick_channels(columns, target, wanted, expected) -> None:
    assert pick_channels(columns, target, wanted) == expected


@pytest.mark.parametrize("wanted", [["nope"], ["7"], ["-1"]])
def test_pick_channels_refuses_what_is_not_there(wanted) -> None:
    with pytest.raises(TsvqError, match="neither a channel name nor an index below 7"):
        pick_channels(ETT, "OT", wanted)


def test_plot_draws_every_history_series(tiny_run: Path, tmp_path: Path, run_cli) -> None:
    with open(tiny_run.with_name(tiny_run.stem + "_history.csv"), newline="") as fh:
        header = next(csv.reader(fh))
    for key, *_ in HISTORY_PANELS:  # each panel's series is a column training writes
        assert f"train_{key}" in header and f"valid_{key}" in header
    assert "lr" in header
    rc, out, err = run_cli(
        [
            "plot",
            "--checkpoint",
            str(tiny_run),
            "--out",
            str(tmp_path / "p"),
            "--channels",
            "OT,HUFL",
        ]
    )
    assert rc == 0, err
    names = sorted(p.name for p in (tmp_path / "p").iterdir())
    assert names == ["code_usage.png", "loss_curves.png", "reconstructions.png"]
    for name in names:
        assert (tmp_path / "p" / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    rc, _out, err = run_cli(
        ["plot", "--checkpoint", str(tiny_run), "--out", str(tmp_path / "q"), "--channels", "nope"]
    )
    assert rc == 2 and "--channels: 'nope'" in err and not (tmp_path / "q").exists()


def test_plot_without_matplotlib_is_one_line(tiny_run: Path, tmp_path: Path, repo: Path) -> None:
    code = (
        "import sys; sys.modules['matplotlib'] = None; "
        "from tsvq.cli import main; sys.exit(main(sys.argv[1:]))"
    )
    env = {**os.environ, "PYTHONPATH": str(repo / "src"), "OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            code,
            "plot",
            "--checkpoint",
            str(tiny_run),
            "--out",
            str(tmp_path / "p"),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "pip install 'tsvq[plot]'" in lines[0], lines
    assert not (tmp_path / "p").exists()
