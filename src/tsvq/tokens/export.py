"""Export a tokenizer as a Hugging Face style folder, atomically: all of it or nothing."""

from __future__ import annotations

import os
from pathlib import Path

from huggingface_hub import constants

from tsvq.errors import TsvqError
from tsvq.files import atomic_dir
from tsvq.tokens.tokenizer import Tokenizer

# What `save_pretrained` writes: the only entries a folder may hold for export to replace it.
EXPORT_FILES = frozenset({constants.CONFIG_NAME, constants.SAFETENSORS_SINGLE_FILE, "README.md"})


def export(tok: Tokenizer, out: str | os.PathLike[str], figures: str | None = None) -> Path:
    """Write `tok` to folder `out` (config.json, model.safetensors, README.md model card, which
    states `figures`, the test figures, when given).

    The folder is filled under a temporary name and renamed into place, so a failure leaves
    no partial folder. An existing folder is replaced only if it holds a previous export and
    nothing else.
    """
    final = Path(out)
    _check_replaceable(final)
    with atomic_dir(final) as tmp:
        tok.save_pretrained(tmp, figures)
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
