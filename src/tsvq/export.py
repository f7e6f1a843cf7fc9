"""Export a tokenizer as a Hugging Face style folder, atomically: all of it or nothing."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from huggingface_hub import constants

from .errors import TsvqError
from .files import _fsync_dir, _umask
from .tokenizer import Tokenizer

# What `save_pretrained` writes: the only entries a folder may hold for export to replace it.
EXPORT_FILES = frozenset({constants.CONFIG_NAME, constants.SAFETENSORS_SINGLE_FILE, "README.md"})


def export(tok: Tokenizer, out: str | os.PathLike[str]) -> Path:
    """Write `tok` to folder `out` (config.json, model.safetensors, README.md model card).

    The folder is filled under a temporary name and renamed into place, so a failure leaves
    no partial folder. An existing folder is replaced only if it holds a previous export and
    nothing else.
    """
    final = Path(out)
    _check_replaceable(final)
    with atomic_dir(final) as tmp:
        tok.save_pretrained(tmp)
    return final


def _check_replaceable(final: Path) -> None:
    if final.exists() and not final.is_dir():
        raise TsvqError(f"--out {final} is a file; export writes a folder")
    if final.is_dir():
        extra = sorted(p.name for p in final.iterdir() if p.name not in EXPORT_FILES)
        if extra:
            raise TsvqError(
                f"--out {final} exists and holds other files ({', '.join(extra[:5])}); give a new "
                "or empty folder, or a previous export to replace"
            )


@contextlib.contextmanager
def atomic_dir(path: Path) -> Iterator[Path]:
    """Yield a temporary folder beside `path`; on success fsync it and swap it in for `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    try:
        os.chmod(tmp, 0o777 & ~_umask())  # mkdtemp makes it private; give it a folder's mode
        yield tmp
        for f in tmp.iterdir():
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
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
