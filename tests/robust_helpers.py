"""Shared helpers of the robustness tests: run the CLI in-process or as a process, snapshot a
folder tree, a pickle that runs code, a minimal checkpoint."""

from __future__ import annotations

import contextlib
import gzip
import io
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import pytest
import torch
from conftest import DATA_DIR, REPO

from tsvq.cli import main

ILLNESS = DATA_DIR / "illness" / "national_illness.csv"
needs_data = pytest.mark.skipif(not ILLNESS.exists(), reason=f"no benchmark data in {DATA_DIR}")

# a run small enough for a shared 2-core machine: illness has 966 rows, 7 channels
TINY = ["--dset", "illness", "--context_points", "96", "--max_steps_per_epoch", "5"]


def run_cli(argv: Sequence[str]) -> tuple[int, str, str]:
    """`tsvq argv` in this process, on one CPU thread: (exit status, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # see subprocess_env
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            rc = main(list(argv))
        except SystemExit as exc:  # argparse exits on a bad flag
            rc = exc.code if isinstance(exc.code, int) else 1
        finally:
            torch.set_num_threads(threads)
    return rc, out.getvalue(), err.getvalue()


def tree(root: Path) -> dict[str, tuple[bool, int, int]]:
    """Every file and folder under `root`: relative path -> (is_dir, size, mtime_ns)."""
    snap = {}
    for p in root.rglob("*"):
        st = p.lstat()  # a symbolic link as itself: it may loop or dangle
        link = p.is_symlink()
        snap[str(p.relative_to(root))] = (
            p.is_dir() and not link,
            st.st_size if p.is_file() and not link else 0,
            st.st_mtime_ns,
        )
    return snap


def subprocess_env() -> dict[str, str]:
    """Environment for `python -m tsvq` from this checkout, with the benchmark data."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO / "src"), env.get("PYTHONPATH")]))
    env["TSVQ_DATA_DIR"] = str(DATA_DIR)
    env.pop("TSVQ_DATA_URL", None)
    # One thread: on a shared, oversubscribed CPU two spinning OpenMP threads made a 0.35 s
    # epoch take 3 to 50 s. Results are deterministic for a given thread count.
    env["OMP_NUM_THREADS"] = "1"
    return env


PYTHON = sys.executable

NAME = "vqvae_cw96_ps16_ed32_cf4_cb256_model1"  # the files of a context-96 run, defaults otherwise
# a short run on illness, for the faults met in a real process (a size limit, a signal, a lock)
FAULT_RUN = [
    "train",
    "--dset",
    "illness",
    "--context_points",
    "96",
    "--n_epochs",
    "1",
    "--max_steps_per_epoch",
    "2",
]
LIMITED = (
    "import resource, sys; resource.setrlimit(resource.RLIMIT_FSIZE, ({0}, {0})); "
    "from tsvq.cli import main; sys.exit(main(sys.argv[1:]))"
)


def run_tsvq(argv: list[str], limit: int | None = None, **kw) -> subprocess.CompletedProcess:
    """`python -m tsvq argv` as a separate process; `limit`: a file-size limit (setrlimit)."""
    cmd = [PYTHON, "-c", LIMITED.format(limit), *argv] if limit else [PYTHON, "-m", "tsvq", *argv]
    return subprocess.run(
        cmd, env=subprocess_env(), capture_output=True, text=True, timeout=300, **kw
    )


def no_temporaries(root: Path) -> bool:
    return not [p for p in root.rglob("*") if p.name.endswith(".tmp")]


class Evil:
    """Pickles to a call that creates `marker`: loading it must never run that call."""

    def __init__(self, marker: Path, how: str = "system") -> None:
        self.marker, self.how = marker, how

    def __reduce__(self):  # noqa: ANN204 - pickle protocol
        if self.how == "open":
            return (open, (str(self.marker), "w"))
        return (os.system, (f"touch {self.marker}",))


# the smallest checkpoint with the original's keys
GOOD = {
    "model_state_dict": {"w": torch.ones(3)},
    "config": {},
    "args": {},
    "epoch": 1,
    "train_loss": 1.0,
    "val_loss": 1.0,
}


HEADER = "date,a,b\n"
ROWS = "2020-01-01 00:00,1,2\n2020-01-01 01:00,3,4\n"

# name -> (file bytes, text the error must contain); the file is written as bad.csv
BAD_FILES = {
    "empty": (b"", "empty"),
    "header only": (HEADER.encode(), "no data rows"),
    "one column": (b"date\n2020-01-01\n", "got 1 column"),
    "binary garbage": (bytes(range(256)) * 16, "not a text CSV"),
    "binary without NUL": (bytes(range(1, 32)) * 100, "not a text CSV"),
    "utf-16": ((HEADER + ROWS).encode("utf-16"), "not a text CSV"),
    "non-numeric": ((HEADER + ROWS + "2020-01-01 02:00,abc,5\n").encode(), "'abc'"),
    "nan": ((HEADER + ROWS + "2020-01-01 02:00,1,nan\n").encode(), "'nan'"),
    "NaN": ((HEADER + ROWS + "2020-01-01 02:00,NaN,1\n").encode(), "'NaN'"),
    "inf": ((HEADER + ROWS + "2020-01-01 02:00,inf,1\n").encode(), "'inf'"),
    "-inf": ((HEADER + ROWS + "2020-01-01 02:00,1,-inf\n").encode(), "'-inf'"),
    "overflow to inf": ((HEADER + ROWS + "2020-01-01 02:00,1e400,1\n").encode(), "'1e400'"),
    "beyond float32": ((HEADER + ROWS + "2020-01-01 02:00,1,-4e38\n").encode(), "'-4e38'"),
    "blank cell": ((HEADER + ROWS + "2020-01-01 02:00,,1\n").encode(), "blank cell"),
    "short row": ((HEADER + ROWS + "2020-01-01 02:00,1\n").encode(), "column 'b' data row 3"),
    "long row": ((HEADER + ROWS + "2020-01-01 02:00,1,2,3\n").encode(), "cannot parse CSV"),
    "not a date": ((HEADER + "yesterday,1,2\n").encode(), "'yesterday'"),
    "blank date": ((HEADER + ROWS + ",1,2\n").encode(), "data row 3 holds ''"),
    "dates backwards": (
        (HEADER + ROWS + "2020-01-01 00:30,5,6\n").encode(),
        "dates go backwards at data row 3",
    ),
    "truncated gzip": (gzip.compress((HEADER + ROWS * 50).encode())[:40], "cannot read"),
}
