"""Checkpoint I/O in one place: naming, atomic saving, safe loading (weights_only)."""

from __future__ import annotations

import pickle
import zipfile
from pathlib import Path
from typing import Any

import torch

from .errors import TsvqError
from .files import write_with

FORMAT = "tsvq-checkpoint"
FORMAT_VERSION = 1
REQUIRED_KEYS = ("model_state_dict", "config", "args", "epoch", "train_loss", "val_loss")


def model_name(
    context_points: int,
    patch_size: int,
    embedding_dim: int,
    compression_factor: int,
    num_embeddings: int,
    model_id: int | str,
) -> str:
    """The specification's model name."""
    return (
        f"vqvae_cw{context_points}_ps{patch_size}_ed{embedding_dim}"
        f"_cf{compression_factor}_cb{num_embeddings}_model{model_id}"
    )


def save(path: str | Path, payload: dict[str, Any]) -> None:
    """Write a checkpoint dict atomically (temporary name, fsync, rename)."""
    payload = {"format": FORMAT, "format_version": FORMAT_VERSION, **payload}
    write_with(path, lambda tmp: torch.save(payload, tmp))


def load(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load a tsvq checkpoint with `weights_only=True`: a pickle carrying code is refused."""
    p = Path(path)
    if not p.exists():
        raise TsvqError(f"checkpoint not found: {p}")
    if p.is_dir():
        raise TsvqError(f"checkpoint path is a directory, expected a .pth file: {p}")
    try:
        obj = torch.load(p, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else "unpickling failed"
        if "weights_only" in str(exc) or "Unsupported global" in str(exc):
            reason = "it holds objects other than tensors and plain values (refused unloaded)"
        raise TsvqError(f"refusing checkpoint {p}: {reason}") from None
    except (RuntimeError, EOFError, zipfile.BadZipFile, OSError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise TsvqError(f"checkpoint {p} is truncated or corrupt: {first[:200]}") from None
    if not isinstance(obj, dict) or obj.get("format") != FORMAT:
        raise TsvqError(f"{p} is not a tsvq checkpoint (no '{FORMAT}' marker)")
    missing = [k for k in REQUIRED_KEYS if k not in obj]
    if missing:
        raise TsvqError(f"checkpoint {p} lacks {', '.join(missing)}")
    return obj
