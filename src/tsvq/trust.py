"""Field digests of what tsvq wrote: one scheme for checkpoints, exported folders and tokens files.

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
import struct
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import torch

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
    elif isinstance(v, np.ndarray):
        h.update(array_header(v.dtype, v.shape))
        h.update(np.ascontiguousarray(v).reshape(-1).view(np.uint8).data)  # any dtype's bytes
    else:
        raise TypeError(f"{type(v).__name__} has no digest")


def array_header(dtype: np.dtype, shape: tuple[int, ...]) -> bytes:
    """What an array's digest starts with, before its bytes (`hasher` streams the rest)."""
    return f"a{np.dtype(dtype).str}{tuple(shape)};".encode()


def hasher(dtype: np.dtype, shape: tuple[int, ...]) -> Any:
    """A sha256 fed an array's header: update it with the array's bytes in order, then
    `hexdigest()[:DIGEST_CHARS]` is `digest(array)`, without the array ever in memory."""
    return hashlib.sha256(array_header(dtype, shape))


def fingerprint(state: dict[str, torch.Tensor], *arrays: np.ndarray) -> str:
    """A tokenizer's identity: 16 hex digits of sha256 over its weights (by name) and the
    arrays (its scaler's statistics) that tokens files name it by."""
    h = hashlib.sha256()
    for name, tensor in sorted(state.items()):
        h.update(name.encode())
        h.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    for a in arrays:
        h.update(a.tobytes())
    return h.hexdigest()[:16]


def seal(tree: dict[str, Any]) -> dict[str, str]:
    """{field path: digest} for every leaf of `tree`."""
    return {path_of(keys): digest(value) for keys, value in leaves(tree)}


def unsealed(tree: dict[str, Any], sealed: Any, render: Callable[[str], str] = str) -> str | None:
    """What differs between `tree` and the map `seal` made of it when it was written:
    "FIELD was changed", "... dropped" or "... added" (FIELD as `render` writes its path);
    None when every field matches."""
    if not isinstance(sealed, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in sealed.items()
    ):
        return "its digest itself is damaged (not a map of field names to digests)"
    seen = set()
    for keys, value in leaves(tree):
        path = path_of(keys)
        seen.add(path)
        if path not in sealed:
            return f"{render(path)} was added"
        try:
            same = digest(value) == sealed[path]
        except TypeError:
            same = False
        if not same:
            return f"{render(path)} was changed"
    dropped = sorted(set(sealed) - seen)
    return f"{render(dropped[0])} was dropped" if dropped else None
