"""Tokens files (.npz) read through one door (`writer` writes them, field by field).

A tokens file holds the fields of `FIELDS` (and those of `OPTIONAL` that apply: `mask`, with
gaps filled or padding; `length` and `index`, version 4). The door reads a file as every door
does: the arrays loaded (no pickles), every field against its declared dtype and shape
(`FIELDS`: symbols n, C, k bind across fields), the digest (`trust`: versions 3 and 4 seal each
field, so the refusal names it), then the `Tokens`. The values decode uses are checked by
decode itself (codes in range, finite statistics, std > 0); the file must name the tokenizer
decoding it by its fingerprint, and the scaler of a training column must be the tokenizer's
(`check_against`). Version 2 files (a whole-file digest, tsvq 0.1) and version 1 files (int64
codes of the training length, no mask, no digest) still read; a file claiming an older version
than the fields it holds is refused (`LATER`), so relabelling cannot skip the digest.
"""

from __future__ import annotations

import hashlib
import json
import math
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tsvq import trust
from tsvq.data.windows import Scaler
from tsvq.errors import TsvqError, one_line
from tsvq.model.memory import available_bytes, size_text
from tsvq.reach import missing_reason
from tsvq.tokens.channels import describe_columns
from tsvq.tokens.encoded import Encoded
from tsvq.tokens.tokenizer import Tokenizer
from tsvq.tokens.writer import (
    DIGEST,
    FIELD_DIGESTS,
    FIELDS,
    FORMAT,
    NEW_IN_4,
    OPTIONAL,
    VERSION,
    Origin,
    covered,
)

# Fields a file of each older version could not hold: one claiming that version with them was
# altered (a file relabelled version 1 would otherwise skip the digest check)
LATER = {1: ("mask", DIGEST, FIELD_DIGESTS, *NEW_IN_4), 2: NEW_IN_4, 3: NEW_IN_4}


@dataclass
class Tokens:
    """A tokens file's content, checked for dtype and shape (see `FIELDS`)."""

    codes: np.ndarray
    mean: np.ndarray
    std: np.ndarray
    start: np.ndarray
    columns: list[str]
    scaler: Scaler
    tokenizer: str
    context_points: int
    n_tokens: int
    num_embeddings: int
    mask: np.ndarray | None
    version: int
    length: int | None = None
    index: np.ndarray | None = None
    series: np.ndarray | None = None  # [n] each window's series, in a file of several

    def encoded(self) -> Encoded:
        cf = self.context_points // self.n_tokens
        origin = Origin(self.tokenizer, cf, self.num_embeddings)
        return Encoded(
            self.codes,
            self.mean,
            self.std,
            self.scaler,
            self.mask,
            self.columns,
            self.length,
            self.index,
            origin=origin,
        )


# ---- the door ----------------------------------------------------------------------------


def read_tokens(path: str | Path) -> Tokens:
    """Load a tokens file written by `tsvq encode` and check every field decode uses."""
    p = Path(path)
    a = _arrays(p)
    version = _parse(p, a)
    if version >= 2:  # version 1 kept no digest
        why = _unsealed(a, version)
        if why:
            raise TsvqError(
                f"tokens file {p} was altered or damaged after `tsvq encode` wrote it: {why}"
            )
    with np.errstate(over="ignore"):
        shift, scale = (a[k].astype(np.float32) for k in ("scaler_shift", "scaler_scale"))
    for name, v, ok in (("scaler_shift", shift, True), ("scaler_scale", scale, (scale > 0).all())):
        if not (np.isfinite(v).all() and ok):
            raise _bad(p, name, v.tolist())
    return Tokens(
        codes=a["codes"],
        mean=a["mean"],
        std=a["std"],
        start=a["start"],
        columns=[str(x) for x in a["columns"]],
        scaler=Scaler(str(a["scaler_kind"]), shift, scale),
        tokenizer=str(a["tokenizer"]),
        context_points=int(a["context_points"]),
        n_tokens=int(a["n_tokens"]),
        num_embeddings=int(a["num_embeddings"]),
        mask=a.get("mask"),
        version=version,
        length=_length(p, a),
        index=a.get("index"),
        series=a.get("series"),
    )


def _length(p: Path, a: dict[str, np.ndarray]) -> int | None:
    """The steps per window before padding (None: the file has none), 1..context_points."""
    if "length" not in a:
        return None
    length = int(a["length"])
    if not 0 < length <= int(a["context_points"]):
        raise _bad(p, "length", f"{length} with context_points {int(a['context_points'])}")
    return length


def _arrays(p: Path) -> dict[str, np.ndarray]:
    """The fields of tokens file `p` (and its digests), refused unless it is one."""
    if not p.is_file():
        what = "a directory" if p.is_dir() else missing_reason(p)
        raise TsvqError(f"tokens file {p} is {what}; expected an .npz from `tsvq encode`")
    if not zipfile.is_zipfile(p):  # np.load would read it as .npy or as a pickle
        raise TsvqError(
            f"{p} is not a tsvq tokens file: it is not an .npz archive; write one "
            "with `tsvq encode`"
        )
    try:
        _check_declared(p)  # before any member is read
        with np.load(p, allow_pickle=False) as npz:
            a = {k: npz[k] for k in npz.files if _read(k)}
    except TsvqError:  # the declared sizes, said as they are
        raise
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as exc:
        raise TsvqError(f"cannot read tokens file {p}: {one_line(exc, 200)}") from None
    missing = [k for k in FIELDS if k not in a]
    if missing or a["format"].shape != () or str(a["format"]) != FORMAT:
        raise TsvqError(
            f"{p} is not a tsvq tokens file (lacks {', '.join(missing or ['format'])}"
            "); write one with `tsvq encode`"
        )
    return a


def _read(name: str) -> bool:
    """Whether the door reads member `name` (the fields and their digests; others never)."""
    return covered(name) or name in (DIGEST, FIELD_DIGESTS)


def _check_declared(p: Path, free: int | None = None) -> None:
    """Memory before trust, from the headers alone, before any array is read: each member the
    door reads must hold exactly what its .npy header declares (shape x itemsize), so no member
    inflates beyond what its declared shape needs (zipfile never inflates past a member's
    recorded size); the declared shapes must agree with each other (`_shapes`), so one member
    far larger than the rest is refused unread; and all of them together must fit in the free
    memory (`free`, bytes; default: what the machine has free now)."""
    total, declared = 0, {}
    with zipfile.ZipFile(p) as archive:
        for info in archive.infolist():
            name = info.filename.removesuffix(".npy")
            if not _read(name):
                continue
            with archive.open(info) as fh:
                version = np.lib.format.read_magic(fh)
                readers = {
                    (1, 0): np.lib.format.read_array_header_1_0,
                    (2, 0): np.lib.format.read_array_header_2_0,
                }
                if version not in readers:  # numpy writes 1.0 (2.0 for huge headers)
                    raise TsvqError(f"tokens file {p}: '{name}' is a .npy of version {version}")
                shape, _fortran, dtype = readers[version](fh)
                start = fh.tell()
            if dtype.hasobject:
                raise TsvqError(f"tokens file {p}: '{name}' holds Python objects, not numbers")
            need = math.prod(shape) * dtype.itemsize
            if info.file_size != start + need:
                raise TsvqError(
                    f"tokens file {p}: '{name}' declares shape {shape} of {dtype} ({need:,} "
                    f"bytes) but holds {info.file_size - start:,}; the file is damaged"
                )
            total += need
            declared[name] = _Declared(dtype, shape)
    _shapes(p, declared)  # a member far larger than the others declare is refused unread
    free = available_bytes("cpu") if free is None else free
    if free is not None and total > free:
        raise TsvqError(
            f"tokens file {p} declares arrays of {size_text(total)} in all, more than the "
            f"{size_text(free)} free"
        )


def _parse(p: Path, a: dict[str, np.ndarray]) -> int:
    """Every field's dtype and shape as `FIELDS` declares them; returns the format version."""
    sizes = _shapes(p, a)
    if int(a["n_tokens"]) != sizes["k"]:
        raise _bad(p, "n_tokens", f"{int(a['n_tokens'])} with codes of shape {a['codes'].shape}")
    version = int(a["format_version"])
    if version not in (1, 2, 3, VERSION):
        raise _bad(p, "format_version", version)
    later = [k for k in LATER.get(version, ()) if k in a]
    if later or (version == 1 and a["codes"].dtype != np.int64):
        held = f"'{later[0]}'" if later else f"codes of dtype {a['codes'].dtype}"
        raise TsvqError(
            f"tokens file {p} says format_version {version} but holds {held}, which no "
            f"version {version} file had: it was altered after tsvq wrote it; encode it again"
        )
    return version


@dataclass(frozen=True)
class _Declared:
    """What a member's .npy header says, before its data is read."""

    dtype: np.dtype
    shape: tuple[int, ...]

    @property
    def ndim(self) -> int:
        return len(self.shape)


def _shapes(p: Path, a: Mapping[str, np.ndarray | _Declared]) -> dict[str, int]:
    """The sizes every field shares (n, C, k), each field's dtype and shape checked against
    `FIELDS`: on the arrays, or on their headers alone before any is read."""
    sizes: dict[str, int] = {}
    codes = a["codes"].shape if "codes" in a else None
    for name, (kinds, dims, _) in {**FIELDS, **OPTIONAL}.items():
        if name not in a:
            continue
        v, got = a[name], None
        if v.dtype.kind not in kinds or v.ndim != len(dims):
            got = f"shape {v.shape} dtype {v.dtype}"
        elif any(sizes.setdefault(d, n) != n for d, n in zip(dims, v.shape, strict=True)):
            got = f"shape {v.shape} with codes of shape {codes}"
        if got:
            raise _bad(p, name, got)
    return sizes


def _bad(p: Path, name: str, got: object) -> TsvqError:
    what = {**FIELDS, **OPTIONAL}[name][2]
    return TsvqError(f"tokens file {p}: '{name}' must be {what}, got {got}")


def _unsealed(a: dict[str, np.ndarray], version: int) -> str | None:
    """What differs from the digest tsvq wrote (None: nothing), naming the field."""
    fields = {k: v for k, v in a.items() if covered(k)}
    stored = a.get(DIGEST)
    if stored is None or stored.shape != () or stored.dtype.kind != "U":
        return f"{DIGEST!r} was dropped" if stored is None else f"{DIGEST!r} was changed"
    if version != 2:
        try:
            sealed = json.loads(str(stored))
        except ValueError:
            return f"{DIGEST!r} was changed"
        return trust.unsealed(fields, sealed, render=repr)
    return _unsealed_v2(fields, str(stored), a.get(FIELD_DIGESTS))


def _unsealed_v2(
    fields: dict[str, np.ndarray], stored: str, listed: np.ndarray | None
) -> str | None:
    """Version 2 (tsvq 0.1): one sha256 over every field's name, dtype, shape and content's
    sha256, and the same per field in `field_digests`, which names the field that differs."""
    parts = {}
    for name, v in sorted(fields.items()):
        content = hashlib.sha256(np.ascontiguousarray(v).data).digest()
        parts[name] = f"{name}|{v.dtype.str}|{v.shape}|".encode() + content
    if hashlib.sha256(b"".join(parts.values())).hexdigest() == stored:
        return None
    try:
        written = dict(str(x).split("=", 1) for x in np.asarray(listed).reshape(-1))
    except (TypeError, ValueError):
        return "its digest does not match its content"
    for name in sorted(set(written) | set(parts)):
        if name not in parts or name not in written:
            return f"'{name}' was {'dropped' if name not in parts else 'added'}"
        if written[name] != hashlib.sha256(parts[name]).hexdigest()[: trust.DIGEST_CHARS]:
            return f"'{name}' was changed"
    return "its digest was changed"


def check_against(
    tokens: Tokens, tok: Tokenizer, path: str | Path, source: str | Path = "--checkpoint"
) -> None:
    """Refuse tokens that another tokenizer made, or whose scaler or lengths disagree with it.

    `source` names the tokenizer in messages (its checkpoint or folder)."""
    k, cfg = tokens.n_tokens, tok.cfg
    diff = []
    if tokens.num_embeddings != tok.vocab_size:
        diff.append(f"num_embeddings {tokens.num_embeddings} vs {tok.vocab_size}")
    if k % cfg.tokens_per_patch or tokens.context_points != k * cfg.compression_factor:
        diff.append(
            f"context_points {tokens.context_points} with n_tokens {k}, vs compression_factor "
            f"{cfg.compression_factor} and patch_size {cfg.patch_size}"
        )
    if diff:
        raise TsvqError(
            f"{path} was made by a tokenizer of another configuration "
            f"({'; '.join(diff)}; tokens file vs {source})"
        )
    if tokens.tokenizer != tok.fingerprint:
        raise TsvqError(
            f"{path} was made by another model (tokenizer {tokens.tokenizer}, {source} is "
            f"{tok.fingerprint}): its codes index a different codebook"
        )
    c = len(tokens.columns)
    own, _ = tok.scaler_for(c, tokens.columns)
    # version 1 files only ever held the training scaler; later ones may scale other columns
    fixed = [j for j in range(c) if tokens.version == 1 or tokens.columns[j] in tok.columns]
    if not (
        np.array_equal(own.shift[fixed], tokens.scaler.shift[fixed])
        and np.array_equal(own.scale[fixed], tokens.scaler.scale[fixed])
    ):
        raise TsvqError(
            f"{path}: its scaler for channel(s) "
            f"{describe_columns([tokens.columns[j] for j in fixed])} differs from the "
            f"tokenizer's training scaler ({source})"
        )
