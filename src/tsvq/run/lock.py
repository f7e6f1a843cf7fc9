"""One run folder, one run: a lock on a run's files, and an earlier run's files kept aside.

The lock is `flock` on `.{name}.lock` beside the run's files, holding the owner's process id.
The kernel drops it when the owner dies, however it dies, so a lock left by a killed run is
taken over at once; a live owner's lock is refused with its process id. Everything that cleans
the folder (stale temporaries) runs only while the lock is held, so it never touches a live
run's files.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from tsvq.errors import TsvqError
from tsvq.files import stale_temporaries, write_failed


def lock_path(directory: Path, name: str) -> Path:
    return directory / f".{name}.lock"


@contextlib.contextmanager
def run_lock(directory: Path, name: str) -> Iterator[Path]:
    """Hold the lock of run `name` in `directory` (made if needed) for the block.

    On leaving, the lock file goes, and so do folders made for it that are still empty (a run
    stopped before its first file leaves nothing behind).
    """
    made = [d for d in (directory, *directory.parents) if not d.exists()]  # deepest first
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise write_failed(directory, exc, directory.parent) from None
    path = lock_path(directory, name)
    try:
        fd = _acquire(path, directory / name)
    except BaseException:
        _remove_empty(made)
        raise
    try:
        yield path
    finally:
        with contextlib.suppress(OSError):
            path.unlink()  # while still holding it: a waiting run then locks a new file
        os.close(fd)
        _remove_empty(made)


def _acquire(path: Path, run: Path) -> int:
    while True:
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
        except OSError as exc:
            raise write_failed(path, exc) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            owner = os.read(fd, 200).decode("utf-8", "replace").strip() or "unknown"
            os.close(fd)
            raise TsvqError(
                f"{run}: another run is using these files (process {owner}, "
                f"lock {path}); wait for it to finish or stop it"
            ) from None
        with contextlib.suppress(FileNotFoundError):
            if os.fstat(fd).st_ino == os.stat(path).st_ino:
                break  # the file we locked is still the lock (not one its owner just removed)
        os.close(fd)
    os.ftruncate(fd, 0)
    os.write(fd, f"{os.getpid()} on {socket.gethostname()}\n".encode())
    return fd


def _remove_empty(folders: list[Path]) -> None:
    for d in folders:
        with contextlib.suppress(OSError):
            d.rmdir()  # only while empty


def set_aside(files: tuple[Path, ...], directory: Path, name: str) -> Path | None:
    """Move the files of an earlier run into `directory/previous/{name}-{time}/`; its folder."""
    present = [f for f in files if f.exists()]
    if not present:
        return None
    stamp = time.strftime("%Y%m%d-%H%M%S")
    aside = directory / "previous" / f"{name}-{stamp}"
    n = 1
    while aside.exists():
        n += 1
        aside = directory / "previous" / f"{name}-{stamp}-{n}"
    try:
        aside.mkdir(parents=True)
        for f in present:
            os.replace(f, aside / f.name)
    except OSError as exc:
        raise write_failed(aside, exc) from None
    return aside


def take_folder(
    files: tuple[Path, ...],
    directory: Path,
    name: str,
    resume: bool,
    hold: contextlib.ExitStack,
    log: Callable[[str], None],
) -> None:
    """Take a run folder for the run `name` writing `files` (process 0's job, for the tokenizer's
    and the forecaster's runs alike): refuse a file that is a directory, hold the run lock until
    `hold` closes, remove a killed run's temporaries (never a live run's: it would hold the
    lock), and set an earlier run's files aside unless this run `resume`s it."""
    for p in files:
        if p.is_dir():
            raise TsvqError(f"--save_path: {p} is a directory; tsvq writes a file there")
    hold.enter_context(run_lock(directory, name))
    for p in files:
        for stale in stale_temporaries(p):
            stale.unlink(missing_ok=True)
    if resume:
        return
    aside = set_aside(files, directory, name)
    if aside is not None:
        log(
            f"An earlier run's files were moved to {aside}; to continue that run instead, "
            "move them back and add --resume"
        )
