"""A torch checkpoint file, read safely: a whole zip archive, every part's CRC-32, weights-only
unpickling (a pickle that would import or call anything is refused, nothing in it runs), and
the original script's keys present. The first step of the checkpoint door (`checkpoint`)."""

from __future__ import annotations

import pickle
import re
import warnings
import zipfile
from pathlib import Path
from typing import Any

import torch

from tsvq.checks import check_depth
from tsvq.errors import TsvqError, one_line
from tsvq.reach import not_there

# The original script's keys, which every checkpoint holds
REQUIRED_KEYS = ("model_state_dict", "config", "args", "epoch", "train_loss", "val_loss")


def load(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load a checkpoint dict with `weights_only=True`: a pickle carrying code is refused.

    The file must be a whole zip archive whose parts pass their CRC-32 checks (torch does not
    check them, so a flipped bit in the weights would load silently). The weights-only
    unpickler never imports or calls anything outside torch's allow-list, so code smuggled into
    the file (a `__reduce__` payload, say) is refused, not run.
    """
    p = Path(path)
    if not p.exists() or p.is_dir():
        folder = f"checkpoint path is a directory, expected a .pth file: {p}"
        raise TsvqError(folder if p.is_dir() else not_there("checkpoint", p))
    _check_archive(p)
    try:
        with warnings.catch_warnings():  # torch warns about pickle protocols on stderr
            warnings.simplefilter("ignore")
            obj = torch.load(p, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as exc:
        raise TsvqError(_refusal(p, str(exc))) from None
    except Exception as exc:  # noqa: BLE001 - a corrupt file can fail in many ways inside torch
        raise TsvqError(f"checkpoint {p} is truncated or corrupt: {_first_sentence(exc)}") from None
    check_depth(obj, f"checkpoint {p}")  # before anything walks it recursively
    if not isinstance(obj, dict) or not any(k in obj for k in REQUIRED_KEYS):
        raise TsvqError(
            f"{p} is not a tsvq checkpoint nor one the original vqvae_train.py "
            "wrote (no model_state_dict, config, args or epoch)"
        )
    missing = [k for k in REQUIRED_KEYS if k not in obj]
    if missing:
        raise TsvqError(f"checkpoint {p} lacks {', '.join(missing)}")
    return obj


def _check_archive(p: Path) -> None:
    """Refuse a file that is not a whole zip archive; torch itself never checks the CRCs."""
    try:
        with zipfile.ZipFile(p) as archive:
            broken = archive.testzip()
            names = archive.namelist()
    except Exception as exc:  # BadZipFile, or worse from a mangled header
        raise TsvqError(
            f"checkpoint {p} is truncated, corrupt or not a torch checkpoint "
            f"({_first_sentence(exc)})"
        ) from None
    if broken is not None:
        raise TsvqError(f"checkpoint {p} is corrupt: its part {broken!r} fails its CRC-32 check")
    # torch's layout: one folder holding data.pkl and a version record; any other zip would
    # meet one of torch's C++ assertions ("[enforce fail at inline_container.cc:180]")
    parts = {name.rsplit("/", 1)[-1] for name in names}
    if not {"data.pkl", "version"} <= parts:
        shown = ", ".join(sorted(names)[:3]) + (", ..." if len(names) > 3 else "")
        raise TsvqError(
            f"checkpoint {p} is a zip archive but not a torch checkpoint: it lacks data.pkl and "
            f"a version record (it holds {shown or 'nothing'})"
        )


def _refusal(p: Path, message: str) -> str:
    """Why the weights-only unpickler refused a file, in one line."""
    found = re.search(r"GLOBAL ([\w.]+)", message)
    if found:
        return (
            f"refusing checkpoint {p}: it would import {found.group(1)}, which is not a "
            "tensor or a plain value (nothing in it was run)"
        )
    found = re.search(r"(Unsupported operand \d+)", message)
    detail = found.group(1) if found else "unpickling failed"
    return f"checkpoint {p} is corrupt or not a torch checkpoint ({detail}); nothing was run"


def _first_sentence(exc: BaseException) -> str:
    first = one_line(exc, 200).split(". ")[0]
    return first if any(c.isalpha() for c in first) else f"{type(exc).__name__} {first}"
