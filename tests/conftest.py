"""Shared fixtures: the repository and data folders, a tiny trained checkpoint, the CLI run in
this process or as its own, folder snapshots, a pickle that runs code, a minimal checkpoint,
the table of bad CSV files; and the `dataset` marker, which skips a test whose dataset is not
in the data folder.

Tests take these as fixtures and never import this file (pytest loads it as a plugin; an import
would make a second copy of it)."""

from __future__ import annotations

import atexit
import contextlib
import gzip
import io
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest
import torch

from tsvq.cli import main
from tsvq.data import embedded
from tsvq.data.registry import REGISTRY

REPO = Path(__file__).resolve().parents[1]


def _benchmark_dir() -> Path:
    """`$TSVQ_DATA_DIR`, else `../shared/data`; where neither holds the ETT files (a fresh
    clone), a temporary folder holding the ETT family decompressed from tsvq's embedded copies
    (checked against the registry's sha256 on the way), so the suite runs with no data at all.
    """
    path = Path(os.environ.get("TSVQ_DATA_DIR") or REPO.parent / "shared" / "data").resolve()
    if (path / "ETT-small" / "ETTh1.csv").exists():
        return path
    tmp = Path(tempfile.mkdtemp(prefix="tsvq-test-data-"))
    atexit.register(shutil.rmtree, tmp, True)
    for spec in REGISTRY.values():
        if (src := embedded.path_of(spec.file)) is not None:
            (tmp / spec.file).parent.mkdir(parents=True, exist_ok=True)
            (tmp / spec.file).write_bytes(embedded.verified_bytes(src, spec.sha256, spec.size))
    return tmp


# Absolute, and exported: tests change folders and start subprocesses, and a relative
# TSVQ_DATA_DIR (as the README's command gives) would then point elsewhere.
DATA_DIR = _benchmark_dir()
os.environ["TSVQ_DATA_DIR"] = str(DATA_DIR)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "dataset(*names): the test reads these registered datasets; skipped where one is not in "
        "the data folder (only the ETT family ships inside tsvq)",
    )


@pytest.hookimpl(tryfirst=True)  # before the fixtures are set up
def pytest_runtest_setup(item: pytest.Item) -> None:
    for mark in item.iter_markers("dataset"):
        for name in mark.args:
            if not (DATA_DIR / REGISTRY[name].file).exists():
                pytest.skip(f"{name} is not in {DATA_DIR}; set TSVQ_DATA_DIR to the benchmark data")


@pytest.fixture(scope="session")
def repo() -> Path:
    """The repository's root folder."""
    return REPO


@pytest.fixture(scope="session")
def data_dir() -> Path:
    if not (DATA_DIR / "ETT-small" / "ETTh1.csv").exists():
        pytest.fail(f"benchmark data not found under {DATA_DIR}; set TSVQ_DATA_DIR")
    return DATA_DIR


@pytest.fixture(autouse=True)
def _data_env(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    monkeypatch.setenv("TSVQ_DATA_DIR", str(DATA_DIR))
    # never the user's own ~/.local/share/tsvq: tests see only the data they are given
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path_factory.getbasetemp() / "no-user-data"))


# Small settings that still run the real code path end to end (ETTh1 by default).
TINY = ["--context_points", "96", "--max_steps_per_epoch", "8", "--batch_size", "32"]


@pytest.fixture(scope="session")
def tiny_args() -> tuple[str, ...]:
    """Training flags small enough for a shared 2-core machine, the real code path still."""
    return tuple(TINY)


@pytest.fixture(scope="session")
def run_name() -> str:
    """The files of a context-96 run, defaults otherwise."""
    return "vqvae_cw96_ps16_ed32_cf4_cb256_model1"


@pytest.fixture(scope="session")
def fault_run() -> tuple[str, ...]:
    """A short run on illness, for the faults met in a real process (a size limit, a signal,
    a lock)."""
    return (
        "train",
        "--dset",
        "illness",
        "--context_points",
        "96",
        "--n_epochs",
        "1",
        "--max_steps_per_epoch",
        "2",
    )


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory: pytest.TempPathFactory, data_dir: Path) -> Path:
    """A checkpoint trained for 2 short epochs on ETTh1 (all channels, context 96)."""
    out = tmp_path_factory.mktemp("tiny_run")
    os.environ["TSVQ_DATA_DIR"] = str(data_dir)
    rc = main(["train", "--dset", "etth1", "--n_epochs", "2", "--save_path", str(out), *TINY])
    assert rc == 0
    return out / "etth1" / "vqvae_cw96_ps16_ed32_cf4_cb256_model1.pth"


@pytest.fixture(scope="session")
def tiny_run_revin0(tmp_path_factory: pytest.TempPathFactory, data_dir: Path) -> Path:
    """As `tiny_run`, one epoch, trained without RevIN (`--revin 0`)."""
    out = tmp_path_factory.mktemp("tiny_run_revin0")
    os.environ["TSVQ_DATA_DIR"] = str(data_dir)
    rc = main(["train", "--dset", "etth1", "--save_path", str(out), "--revin", "0", *TINY])
    assert rc == 0
    return out / "etth1" / "vqvae_cw96_ps16_ed32_cf4_cb256_model1.pth"


# ---- the command line, in this process or as its own ----


def _run_cli(argv: Sequence[str]) -> tuple[int, str, str]:
    """`tsvq argv` in this process, on one CPU thread: (exit status, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # see _subprocess_env
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            rc = main(list(argv))
        except SystemExit as exc:  # argparse exits on a bad flag
            rc = exc.code if isinstance(exc.code, int) else 1
        finally:
            torch.set_num_threads(threads)
    return rc, out.getvalue(), err.getvalue()


def _subprocess_env() -> dict[str, str]:
    """Environment for `python -m tsvq` from this checkout, with the benchmark data."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO / "src"), env.get("PYTHONPATH")]))
    env["TSVQ_DATA_DIR"] = str(DATA_DIR)
    env.pop("TSVQ_DATA_URL", None)
    # One thread: on a shared, oversubscribed CPU two spinning OpenMP threads made a 0.35 s
    # epoch take 3 to 50 s. Results are deterministic for a given thread count.
    env["OMP_NUM_THREADS"] = "1"
    return env


LIMITED = (
    "import resource, sys; resource.setrlimit(resource.RLIMIT_FSIZE, ({0}, {0})); "
    "from tsvq.cli import main; sys.exit(main(sys.argv[1:]))"
)


def _run_tsvq(argv: list[str], limit: int | None = None, **kw) -> subprocess.CompletedProcess:
    """`python -m tsvq argv` as a separate process; `limit`: a file-size limit (setrlimit)."""
    python = sys.executable
    cmd = [python, "-c", LIMITED.format(limit), *argv] if limit else [python, "-m", "tsvq", *argv]
    return subprocess.run(
        cmd, env=_subprocess_env(), capture_output=True, text=True, timeout=300, **kw
    )


@pytest.fixture(scope="session")
def run_cli() -> Callable[[Sequence[str]], tuple[int, str, str]]:
    """`run_cli(argv)`: `tsvq argv` in this process, on one CPU thread: (exit status, stdout,
    stderr)."""
    return _run_cli


@pytest.fixture(scope="session")
def subprocess_env() -> Callable[[], dict[str, str]]:
    """`subprocess_env()`: the environment for `python -m tsvq` from this checkout, with the
    benchmark data (read when called: a test's own settings are in it)."""
    return _subprocess_env


@pytest.fixture(scope="session")
def run_tsvq() -> Callable[..., subprocess.CompletedProcess]:
    """`run_tsvq(argv, limit=None, **kw)`: `python -m tsvq argv` as a separate process;
    `limit`: a file-size limit (setrlimit)."""
    return _run_tsvq


# ---- what a test leaves on disk ----


def _tree(root: Path) -> dict[str, tuple[bool, int, int]]:
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


def _no_temporaries(root: Path) -> bool:
    return not [p for p in root.rglob("*") if p.name.endswith(".tmp")]


@pytest.fixture(scope="session")
def tree() -> Callable[[Path], dict[str, tuple[bool, int, int]]]:
    """`tree(root)`: every file and folder under `root`: relative path -> (is_dir, size,
    mtime_ns)."""
    return _tree


@pytest.fixture(scope="session")
def no_temporaries() -> Callable[[Path], bool]:
    """`no_temporaries(root)`: no `*.tmp` file anywhere under `root`."""
    return _no_temporaries


# ---- files that must be refused ----


class Evil:
    """Pickles to a call that creates `marker`: loading it must never run that call."""

    def __init__(self, marker: Path, how: str = "system") -> None:
        self.marker, self.how = marker, how

    def __reduce__(self):  # noqa: ANN204 - pickle protocol
        if self.how == "open":
            return (open, (str(self.marker), "w"))
        return (os.system, (f"touch {self.marker}",))


@pytest.fixture(scope="session")
def evil() -> type[Evil]:
    """`evil(marker, how="system")`: an object that pickles to a call creating `marker`
    (`os.system`, or `open` with how="open"): loading it must never run that call."""
    return Evil


@pytest.fixture
def good_checkpoint() -> dict:
    """The smallest checkpoint with the original's keys (a fresh copy for each test)."""
    return {
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
    "long row": (
        (HEADER + ROWS + "2020-01-01 02:00,1,2,3\n").encode(),
        "data row 3 has 4 fields but the header names 3",
    ),
    "not a date": ((HEADER + "yesterday,1,2\n").encode(), "'yesterday'"),
    "blank date": ((HEADER + ROWS + ",1,2\n").encode(), "data row 3 holds ''"),
    "dates backwards": (
        (HEADER + ROWS + "2020-01-01 00:30,5,6\n").encode(),
        "dates go backwards at data row 3",
    ),
    "truncated gzip": (gzip.compress((HEADER + ROWS * 50).encode())[:40], "cannot read"),
}


@pytest.fixture(params=list(BAD_FILES), ids=list(BAD_FILES))
def bad_file(request: pytest.FixtureRequest) -> tuple[bytes, str]:
    """Each kind of bad CSV file in turn: (its bytes, text the error must contain)."""
    return BAD_FILES[request.param]


@pytest.fixture
def good_csv() -> str:
    """A two-row CSV file the reader accepts: date,a,b with values [[1, 2], [3, 4]]."""
    return HEADER + ROWS
