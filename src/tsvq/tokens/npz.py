"""Tokens files (.npz): written window chunk by window chunk; read through one door.

A tokens file holds the fields of `FIELDS` (and `mask`, with gaps filled). Codes are stored in
the smallest unsigned type that holds num_embeddings - 1 (uint8 up to 256 codes). The door
reads a file as every door does: the arrays loaded (no pickles), every field against its
declared dtype and shape (`FIELDS`: symbols n, C, k bind across fields), the digest (`trust`:
version 3 seals each field, so the refusal names it), then the `Tokens`. The values decode
uses are checked by decode itself (codes in range, finite statistics, std > 0); the file must
name the tokenizer decoding it by its fingerprint, and the scaler of a training column must be
the tokenizer's (`check_against`). Version 2 files (a whole-file digest, tsvq 0.1) and version
1 files (int64 codes of the training length, no mask, no digest) still read.
"""

from __future__ import annotations

import hashlib
import json
import math
import tempfile
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from tsvq import trust
from tsvq.data.windows import Scaler
from tsvq.errors import TsvqError, one_line
from tsvq.files import write_with
from tsvq.model.memory import available_bytes, size_text
from tsvq.reach import missing_reason
from tsvq.tokens.channels import describe_columns
from tsvq.tokens.passes import Encoded
from tsvq.tokens.tokenizer import Tokenizer

FORMAT = "tsvq-tokens"
VERSION = 3
# Every field decode reads: (dtype kinds, shape, what it is). Symbols name sizes that every
# field shares: n windows, C channels, k tokens per window and channel.
FIELDS: dict[str, tuple[str, tuple[str, ...], str]] = {
    "codes": (
        "iu",
        ("n", "C", "k"),
        "[n, C, n_tokens] integers in 0..num_embeddings-1 (checked by decode)",
    ),
    "mean": ("f", ("n", "C"), "[n, C] finite float32 (checked by decode)"),
    "std": ("f", ("n", "C"), "[n, C] finite float32 > 0 (checked by decode)"),
    "start": (
        "iu",
        ("n",),
        "[n] integers: each window's first data row (0-based, header not counted)",
    ),
    "columns": ("U", ("C",), "[C] channel names: with the tokenizer they fix the scaler"),
    "scaler_kind": ("U", (), "the scaler's name"),
    "scaler_shift": (
        "f",
        ("C",),
        "[C] finite, must equal the tokenizer's scaler for these columns",
    ),
    "scaler_scale": (
        "f",
        ("C",),
        "[C] finite > 0, must equal the tokenizer's scaler for these columns",
    ),
    "tokenizer": ("U", (), "the fingerprint of the tokenizer that made the codes"),
    "context_points": ("iu", (), "T of the windows: n_tokens x compression_factor"),
    "n_tokens": ("iu", (), "tokens per window and channel: codes.shape[2]"),
    "num_embeddings": ("iu", (), "the tokenizer's codebook size"),
    "format": ("U", (), "the marker 'tsvq-tokens'"),
    "format_version": ("iu", (), "1 (int64 codes), 2 or 3"),
}
OPTIONAL = {
    "mask": ("b", ("n", "C", "k"), "[n, C, n_tokens] bool: tokens whose steps include a filled gap")
}
DIGEST = "digest"  # version 3: trust's {field: digest} of FIELDS and OPTIONAL, as JSON
FIELD_DIGESTS = "field_digests"  # version 2's "name=digest" list, beside its whole-file digest
# Written for the reader's information only; decode never uses them.
INFO = ("dset", "split", "stride", "missing")


def code_dtype(num_embeddings: int) -> np.dtype:
    """The smallest unsigned integer type holding 0..num_embeddings-1."""
    return np.min_scalar_type(max(num_embeddings - 1, 0))


def covered(name: str) -> bool:
    return name in FIELDS or name in OPTIONAL


def seal(digests: dict[str, str]) -> np.ndarray:
    """The `digest` field: the fields' digests (`trust.digest` of each array), as JSON."""
    return np.asarray(json.dumps(dict(sorted(digests.items()))))


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

    def encoded(self) -> Encoded:
        return Encoded(self.codes, self.mean, self.std, self.scaler, self.mask, self.columns)


class TokensWriter:
    """Streams the arrays of a tokens file to disk, then zips them into `out` atomically."""

    def __init__(self, n: int, c: int, k: int, num_embeddings: int, mask: bool) -> None:
        self._dir = tempfile.TemporaryDirectory(prefix="tsvq-tokens-")
        shapes: dict[str, tuple[tuple[int, ...], Any]] = {
            "codes": ((n, c, k), code_dtype(num_embeddings)),
            "mean": ((n, c), np.float32),
            "std": ((n, c), np.float32),
            "start": ((n,), np.int64),
        }
        if mask:
            shapes["mask"] = ((n, c, k), np.bool_)
        self._dtypes = {name: np.dtype(dt) for name, (_, dt) in shapes.items()}
        self._files: dict[str, BinaryIO] = {}
        self._hashes = {}  # the digest of each streamed array, fed as it is written
        for name, (shape, dt) in shapes.items():
            fh = open(Path(self._dir.name) / f"{name}.npy", "wb")  # noqa: SIM115 - closed later
            header = {"descr": np.lib.format.dtype_to_descr(np.dtype(dt)), "fortran_order": False}
            np.lib.format.write_array_header_1_0(fh, {**header, "shape": shape})
            self._files[name] = fh
            self._hashes[name] = trust.hasher(np.dtype(dt), shape)
        self.written = 0

    def add(self, enc: Encoded, start: np.ndarray) -> None:
        parts: dict[str, np.ndarray | None] = {
            "codes": enc.codes,
            "mean": enc.mean,
            "std": enc.std,
            "start": start,
        }
        if "mask" in self._files:
            parts["mask"] = enc.mask
        for name, a in parts.items():
            data = np.ascontiguousarray(a, self._dtypes[name]).data
            self._files[name].write(data)
            self._hashes[name].update(data)
        self.written += len(enc)

    def finish(self, out: str | Path, meta: dict[str, Any]) -> None:
        """Close the streamed arrays and write `out` (streamed arrays + `meta`) atomically."""
        for fh in self._files.values():
            fh.close()
        meta = {k: np.asarray(v) for k, v in meta.items()}
        digests = {name: h.hexdigest()[: trust.DIGEST_CHARS] for name, h in self._hashes.items()}
        digests.update({k: trust.digest(a) for k, a in meta.items() if covered(k)})
        meta[DIGEST] = seal(digests)

        def write(tmp: Path) -> None:
            with zipfile.ZipFile(tmp, "w", zipfile.ZIP_STORED, allowZip64=True) as zf:
                for name in self._files:
                    zf.write(Path(self._dir.name) / f"{name}.npy", f"{name}.npy")
                for name, value in meta.items():
                    with zf.open(f"{name}.npy", "w", force_zip64=True) as fh:
                        np.lib.format.write_array(fh, value, allow_pickle=False)

        try:
            write_with(out, write)
        finally:
            self.close()

    def close(self) -> None:
        for fh in self._files.values():
            fh.close()
        self._dir.cleanup()


def header(
    tok: Tokenizer, columns: list[str], scaler: Scaler, k: int, info: dict[str, Any]
) -> dict[str, Any]:
    """The small fields of a tokens file (everything but the per-window arrays)."""
    return {
        "format": FORMAT,
        "format_version": VERSION,
        "columns": np.asarray(columns, dtype=str),
        "scaler_kind": scaler.kind,
        "scaler_shift": scaler.shift,
        "scaler_scale": scaler.scale,
        "tokenizer": tok.fingerprint,
        "context_points": k * tok.cfg.compression_factor,
        "n_tokens": k,
        "num_embeddings": tok.vocab_size,
        **{key: info[key] for key in INFO if key in info and info[key] is not None},
    }


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
    )


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
    if version not in (1, 2, VERSION):
        raise _bad(p, "format_version", version)
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
