"""Field digests of what tsvq wrote, and the checks of fields a file carries.

`seal` hashes every field of a nested structure (dicts are walked to their leaves; a leaf is a
tensor, a list or a plain value) and returns {field path: digest}. A file keeps that map beside
what it describes; `unsealed` compares a file's fields with it and names the first field that
was changed, dropped or added after tsvq wrote the file. Paths read as Python subscripts,
`tsvq['data']['dset']`, so a user can find the field in their own code.

A digest guards against damage, mix-ups and edits made without tsvq (a torch.save of an edited
dict recomputes the zip's CRCs); it is not a signature: whoever rewrites the digest too can only
make the file describe a different model, which the field checks then judge.
"""

from __future__ import annotations

import hashlib
import math
import struct
from collections.abc import Iterator
from dataclasses import fields
from typing import Any

import numpy as np
import torch

from tsvq.errors import TsvqError

DIGEST_CHARS = 32  # 128 bits of sha256 per field: damage and mix-ups, not adversaries


def path_of(keys: tuple[Any, ...]) -> str:
    """`("tsvq", "data", "dset")` -> "tsvq['data']['dset']"."""
    return str(keys[0]) + "".join(f"[{k!r}]" for k in keys[1:])


def leaves(tree: Any, keys: tuple[Any, ...] = ()) -> Iterator[tuple[tuple[Any, ...], Any]]:
    """(path, value) of every leaf; a non-empty dict is walked, anything else is a leaf."""
    if isinstance(tree, dict) and tree:
        for k in sorted(tree, key=repr):
            yield from leaves(tree[k], (*keys, k))
    else:
        yield keys, tree


def digest(value: Any) -> str:
    """A digest of a value by type and content: a tensor's dtype, shape and bytes, a float's
    exact bits, a list's items in order, a dict's items by key."""
    h = hashlib.sha256()
    _feed(h, value)
    return h.hexdigest()[:DIGEST_CHARS]


def _feed(h: Any, v: Any) -> None:
    if v is None or isinstance(v, bool):
        h.update(f"{v!r};".encode())
    elif isinstance(v, int):
        h.update(f"i{v};".encode())
    elif isinstance(v, float):
        h.update(b"f" + struct.pack("<d", v))
    elif isinstance(v, str):
        data = v.encode("utf-8", "surrogatepass")
        h.update(f"s{len(data)};".encode() + data)
    elif isinstance(v, list | tuple):  # a pickled tuple stays one, JSON makes it a list
        h.update(f"l{len(v)};".encode())
        for item in v:
            _feed(h, item)
    elif isinstance(v, dict):
        h.update(f"d{len(v)};".encode())
        for k in sorted(v, key=repr):
            _feed(h, k)
            _feed(h, v[k])
    elif isinstance(v, torch.Tensor):
        t = v.detach().cpu().contiguous().reshape(-1)
        h.update(f"t{t.dtype}{tuple(v.shape)};".encode())
        if t.numel():
            h.update(t.view(torch.uint8).numpy())
    else:
        raise TypeError(f"{type(v).__name__} has no digest")


def seal(tree: dict[str, Any]) -> dict[str, str]:
    """{field path: digest} for every leaf of `tree`."""
    return {path_of(keys): digest(value) for keys, value in leaves(tree)}


def unsealed(tree: dict[str, Any], sealed: Any) -> str | None:
    """What differs between `tree` and the map `seal` made of it when it was written:
    "FIELD was changed", "... dropped" or "... added"; None when every field matches."""
    if not isinstance(sealed, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in sealed.items()
    ):
        return "its digest itself is damaged (not a map of field names to digests)"
    seen = set()
    for keys, value in leaves(tree):
        path = path_of(keys)
        seen.add(path)
        if path not in sealed:
            return f"{path} was added"
        try:
            same = digest(value) == sealed[path]
        except TypeError:
            same = False
        if not same:
            return f"{path} was changed"
    dropped = sorted(set(sealed) - seen)
    return f"{dropped[0]} was dropped" if dropped else None


# ---- field checks: what a value must be, whatever file it came from ---------------------------

# declared types of plain dataclass fields -> what a stored value may be (bool is no int here)
PLAIN: dict[str, tuple[type, ...]] = {
    "int": (int,),
    "float": (int, float),
    "bool": (bool,),
    "str": (str,),
    "int | None": (int, type(None)),
    "str | None": (str, type(None)),
}


def is_kind(value: Any, kinds: tuple[type, ...]) -> bool:
    """isinstance, where a bool is not an int and a float must be finite."""
    if isinstance(value, bool) and bool not in kinds:
        return False
    if isinstance(value, float) and not math.isfinite(value):
        return False
    return isinstance(value, kinds)


# ModelConfig fields that shape what a model computes: a file must state each (the others, such
# as the quantizer's training settings, take their defaults in files older than the field)
ARCHITECTURE = (
    "context_points",
    "patch_size",
    "embedding_dim",
    "num_embeddings",
    "compression_factor",
    "block_hidden_size",
    "num_residual_layers",
    "res_hidden_size",
    "revin",
)


def typed(cls: type, d: Any, where: str, required: tuple[str, ...] = ()) -> Any:
    """`cls(**d)` for a dataclass, after checking `d` names only its fields, each of its type,
    and every field in `required`.

    Raises TsvqError naming `where` and the field (`where` starts with the file's name).
    """
    if not isinstance(d, dict):
        raise TsvqError(f"{where} is {type(d).__name__}, expected a dict")
    missing = [k for k in required if k not in d]
    if missing:
        raise TsvqError(f"{where} lacks {', '.join(missing)}")
    unknown = sorted(set(d) - {f.name for f in fields(cls)}, key=repr)
    if unknown:
        raise TsvqError(f"{where} has unknown field(s) {', '.join(map(str, unknown))}")
    for f in fields(cls):
        kinds = PLAIN.get(str(f.type))
        if kinds and f.name in d and not is_kind(d[f.name], kinds):
            got = d[f.name] if isinstance(d[f.name], float) else type(d[f.name]).__name__
            raise TsvqError(
                f"{where}[{f.name!r}] is {got}, expected {f.type}"
                f"{' (finite)' if float in kinds else ''}"
            )
    try:
        return cls(**d)
    except (TypeError, ValueError) as exc:
        raise TsvqError(f"{where}: {exc}") from None


def scaler_problem(scaler: Any, n: int | None = None) -> str | None:
    """Why a scaler record ({kind, shift, scale}) cannot be used, or None: its kind a string,
    shift and scale lists of n numbers, shifts finite, scales finite and > 0."""
    if not isinstance(scaler, dict) or set(scaler) != {"kind", "shift", "scale"}:
        return "must be a dict of kind, shift and scale"
    if not isinstance(scaler["kind"], str):
        return "kind must be a string"
    arrays = {}
    for name in ("shift", "scale"):
        v = scaler[name]
        if not isinstance(v, list | tuple) or not all(is_kind(x, (int, float)) for x in v):
            return f"{name} must be a list of finite numbers"
        with np.errstate(over="ignore"):
            arrays[name] = np.asarray(v, dtype=np.float32)
        if not np.isfinite(arrays[name]).all():
            return f"{name} holds a value beyond float32"
    if not len(arrays["shift"]) == len(arrays["scale"]) == (n or len(arrays["shift"])) > 0:
        want = f"{n}" if n else "the same, non-zero"
        return (
            f"has {len(arrays['shift'])} shift(s) and {len(arrays['scale'])} scale(s), "
            f"expected {want} (one per channel)"
        )
    if not (arrays["scale"] > 0).all():
        return "has a scale that is not positive (each channel's must be > 0)"
    return None
