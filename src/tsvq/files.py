"""Atomic file output: every file tsvq writes goes to a temporary name, is flushed and renamed."""

from __future__ import annotations

import contextlib
import functools
import glob
import json
import math
import os
import re
import shutil
import socket
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from tsvq.errors import TsvqError, WriteFailed, one_line
from tsvq.reach import kind_of

# What writing a file can raise besides OSError: torch.save reports a failed write (disk full,
# `ulimit -f`) as RuntimeError, safetensors as SafetensorError (a RuntimeError subclass would
# be caught already; it is an Exception).
try:
    from safetensors import SafetensorError
except ImportError:  # pragma: no cover - safetensors is a dependency
    SafetensorError = OSError  # type: ignore[misc,assignment]
WRITE_ERRORS: tuple[type[BaseException], ...] = (OSError, RuntimeError, SafetensorError)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside `path`; on success fsync it and rename it onto `path`.

    On any exception (Ctrl-C included) the temporary file and any folder made for it are
    removed and `path` is left as it was; a process killed outright leaves at most a stray
    `.{name}.*.tmp` beside it.
    """
    final = Path(path)
    if final.is_dir():
        raise TsvqError(f"cannot write {final}: it is a directory")
    kind = kind_of(final)
    if kind:  # renaming onto it would replace a pipe or a device node
        raise TsvqError(f"cannot write {final}: it is {kind}")
    made = [d for d in (final.parent, *final.parent.parents) if not d.exists()]  # deepest first
    remove_dead_temporaries(final)
    try:
        final.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=_owned(final), suffix=".tmp", dir=final.parent)
        os.close(fd)
    except OSError as exc:
        raise write_failed(final, exc) from None
    tmp_path = Path(tmp)
    committing = False
    try:
        yield tmp_path
        committing = True
        # mkstemp makes the file private (0600); give it the mode any new file would get
        os.chmod(tmp_path, 0o666 & ~_umask())
        with open(tmp_path, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp_path, final)
    except BaseException as exc:
        tmp_path.unlink(missing_ok=True)
        for d in made:
            with contextlib.suppress(OSError):
                d.rmdir()  # only while empty: never removes what someone else put there
        if committing and isinstance(exc, OSError):
            raise write_failed(final, exc) from None
        raise
    _fsync_dir(final.parent)


PathLike = str | os.PathLike[str]


def check_outputs(
    inputs: Mapping[str, PathLike | None],
    files: Iterable[tuple[str, PathLike]] = (),
    folders: Iterable[tuple[str, PathLike]] = (),
) -> None:
    """Refuse, before any work, an output that would replace an input of the same command.

    `inputs` maps what names a path on the command line (`--checkpoint`) to the path (None or
    a path that does not exist: nothing to protect); `files` and `folders` are the outputs, as
    (what names it, path) pairs. A file output may not be an input: the same file by resolved
    path, or by device and inode (a hard link); a folder output is replaced whole, so no input
    may lie in it. An output that exists and is not a regular file (a FIFO, a device node, a
    socket) is refused too: renaming onto it would replace it. One line names both paths.
    """
    present = {name: Path(p) for name, p in inputs.items() if p is not None and _exists(p)}
    for name, out in files:
        out = Path(out)
        kind = kind_of(out)
        if kind:
            raise TsvqError(f"{name} {out} is {kind}; give the name of a file to write")
        for what, given in present.items():
            if _same_file(out, given):
                raise TsvqError(
                    f"{name} {out} is {what} {given}, an input of this command; writing it "
                    "would replace what is being read: give another path"
                )
    for name, out in folders:
        root = os.path.realpath(out)
        for what, given in present.items():
            inside = os.path.realpath(given)
            if inside == root or inside.startswith(root.rstrip(os.sep) + os.sep):
                raise TsvqError(
                    f"{name} {out} holds {what} {given}, an input of this command; the folder is "
                    "replaced whole: give another folder"
                )


def _exists(path: PathLike) -> bool:
    try:
        os.stat(path)
    except (OSError, ValueError):
        return False
    return True


def _same_file(a: Path, b: Path) -> bool:
    if os.path.realpath(a) == os.path.realpath(b):
        return True
    try:
        return os.path.samefile(a, b)
    except (OSError, ValueError):
        return False


def stale_temporaries(path: str | os.PathLike[str]) -> list[Path]:
    """Temporary files that a killed process left beside `path` (see `atomic_path`)."""
    final = Path(path)
    return sorted(final.parent.glob(f".{glob.escape(final.name)}.*.tmp"))


# A temporary is named `.{name}.{host}-{pid}.{random}.tmp`: who made it, so that a writer can
# remove what a killed writer of the same file left, and never a live one's.
_HOST = re.sub(r"[^A-Za-z0-9.-]", "_", socket.gethostname())[:32] or "host"


def _owned(final: Path) -> str:
    return f".{final.name}.{_HOST}-{os.getpid()}."


def remove_dead_temporaries(path: str | os.PathLike[str]) -> None:
    """Remove the temporaries beside `path` whose writer, a process on this host, is gone
    (killed outright: SIGKILL, a power cut of the process, the OOM killer)."""
    final = Path(path)
    for stale in stale_temporaries(final):
        owner = stale.name[len(final.name) + 2 : -len(".tmp")].rsplit(".", 1)[0]
        host, _, pid = owner.rpartition("-")
        if host == _HOST and pid.isdigit() and not _alive(int(pid)):
            with contextlib.suppress(OSError):
                if stale.is_dir():
                    shutil.rmtree(stale)
                else:
                    stale.unlink()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # another user's process (EPERM): alive
        return True
    return True


def write_failed(
    path: str | os.PathLike[str], exc: BaseException, where: str | os.PathLike[str] | None = None
) -> WriteFailed:
    """One line naming the file and why it could not be written.

    torch and safetensors lose the errno, so their reason is recovered from the file system:
    the free space and the file-size limit of the folder `where` (default: the file's).
    """
    return WriteFailed(f"cannot write {path}: {_reason(exc, Path(where or Path(path).parent))}")


def _reason(exc: BaseException, folder: Path | None = None) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    if folder is not None:
        found = _limit_reached(folder)
        if found:
            return found
    return one_line(exc, 200)


def _limit_reached(folder: Path) -> str | None:
    """'No space left on device' or the file-size limit, if either is (nearly) reached."""
    import resource

    soft, _hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    if soft != resource.RLIM_INFINITY:
        return f"File too large (the file-size limit, ulimit -f, is {soft:,} bytes)"
    with contextlib.suppress(OSError):
        st = os.statvfs(folder)
        if st.f_bavail * st.f_frsize < 1 << 20:
            return "No space left on device"
    return None


@functools.cache
def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _fsync_dir(directory: Path) -> None:
    # The rename is durable only once the directory entry is on disk.
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def write_with(path: str | os.PathLike[str], writer: Callable[[Path], Any]) -> None:
    """Call `writer(tmp_path)` to fill a temporary file, then move it atomically onto `path`."""
    with atomic_path(path) as tmp:
        try:
            writer(tmp)
        except WRITE_ERRORS as exc:  # a full disk, say: one line, not a traceback
            raise write_failed(path, exc) from None


def write_text(path: str | os.PathLike[str], text: str) -> None:
    """Write `text` to `path` atomically."""

    write_with(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def write_json(path: str | os.PathLike[str], obj: Any) -> None:
    """Write `obj` as indented JSON to `path` atomically."""
    write_text(path, json_text(obj, indent=2) + "\n")


def json_text(obj: Any, **kw: Any) -> str:
    """`obj` as JSON that every reader parses: a float that is not finite (NaN, inf), which
    Python's json would write as the invalid `NaN` or `Infinity`, is written as null."""
    return json.dumps(_finite(obj), allow_nan=False, **kw)


def _finite(obj: Any) -> Any:
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_finite(v) for v in obj]
    return obj


@contextlib.contextmanager
def atomic_dir(path: Path) -> Iterator[Path]:
    """Yield a temporary folder beside `path`; on success fsync it and swap it in for `path`.

    A failure to write (see `WRITE_ERRORS`) becomes one `WriteFailed` line; on any exception
    the temporary folder and any folder made for it are removed.
    """
    made = [d for d in (path.parent, *path.parent.parents) if not d.exists()]  # deepest first
    remove_dead_temporaries(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=_owned(path), suffix=".tmp", dir=path.parent))
    except OSError as exc:
        raise write_failed(path, exc) from None
    try:
        os.chmod(tmp, 0o777 & ~_umask())  # mkdtemp makes it private; give it a folder's mode
        yield tmp
        for f in tmp.iterdir():
            # writers such as safetensors may make a file private (0600): give each the mode
            # any new file would get, as atomic_path does
            os.chmod(f, 0o666 & ~_umask())
            with open(f, "rb") as fh:
                os.fsync(fh.fileno())
        _fsync_dir(tmp)
        old = None
        if path.exists():  # a folder cannot be renamed over a non-empty one: move it aside
            old = path.with_name(f".{path.name}.{os.getpid()}.old")
            os.replace(path, old)
        try:
            os.replace(tmp, path)
        except BaseException:
            if old is not None:
                os.replace(old, path)
            raise
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
        _fsync_dir(path.parent)
    except BaseException as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        for d in made:
            with contextlib.suppress(OSError):
                d.rmdir()
        if isinstance(exc, WRITE_ERRORS):
            raise write_failed(path, exc) from None
        raise
