"""Tokens files (.npz): written window chunk by window chunk, read and checked in one place.

A tokens file holds the fields of `FIELDS`. Codes are stored in the smallest unsigned type that
holds num_embeddings - 1 (uint8 up to 256 codes); version 1 files (int64 codes, always of the
training length, no mask) still read. Nothing in a file that shapes what decode returns is
trusted blindly: the codes' shape and range, the statistics and the mask are checked here and
by `Tokenizer.decode`; the file must carry the fingerprint of the tokenizer decoding it, and a
digest over every field and that fingerprint (version 2), so a value changed after writing, or
a field taken from another file, is refused; lengths come from the tokenizer, and the scaler of
a training column must be the tokenizer's (`check_against`). The digest guards against damage
and mix-ups, not against someone who rewrites it: such a file can only decode to wrong numbers.
"""

from __future__ import annotations

import hashlib
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from tsvq.data.windows import Scaler
from tsvq.errors import TsvqError, one_line
from tsvq.files import write_with
from tsvq.reach import missing_reason
from tsvq.tokens.inputs import check_scaler
from tsvq.tokens.tokenizer import Encoded, Tokenizer, describe_columns

FORMAT = "tsvq-tokens"
VERSION = 2
# Every field decode reads, what it must be, and who vouches for it.
FIELDS = {
    "format": "the marker 'tsvq-tokens'",
    "format_version": "1 (int64 codes) or 2",
    "codes": "[n, C, n_tokens] integers in 0..num_embeddings-1 (checked by decode)",
    "mean": "[n, C] finite float32 (checked by decode)",
    "std": "[n, C] finite float32 > 0 (checked by decode)",
    "start": "[n] integers: each window's first data row (0-based, header not counted)",
    "columns": "[C] channel names: with the tokenizer they fix the scaler",
    "scaler_kind": "the scaler's name",
    "scaler_shift": "[C], must equal the tokenizer's scaler for these columns",
    "scaler_scale": "[C], must equal the tokenizer's scaler for these columns",
    "tokenizer": "the fingerprint of the tokenizer that made the codes",
    "context_points": "T of the windows: n_tokens x compression_factor",
    "n_tokens": "tokens per window and channel: codes.shape[2]",
    "num_embeddings": "the tokenizer's codebook size",
}
DIGEST = "digest"  # version 2: sha256 over every other field of FIELDS and OPTIONAL
# "name=digest" of each field DIGEST covers (written since issue 12): names what was changed
FIELD_DIGESTS = "field_digests"
OPTIONAL = {"mask": "[n, C, n_tokens] bool: tokens whose steps include a filled gap"}
# Written for the reader's information only; decode never uses them.
INFO = ("dset", "split", "stride", "missing")


def code_dtype(num_embeddings: int) -> np.dtype:
    """The smallest unsigned integer type holding 0..num_embeddings-1."""
    return np.min_scalar_type(max(num_embeddings - 1, 0))


@dataclass
class Tokens:
    """A tokens file's content, checked for shape and type (see `FIELDS`)."""

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
        self._hashes: dict[str, tuple[np.dtype, tuple[int, ...], Any]] = {}
        for name, (shape, dt) in shapes.items():
            fh = open(Path(self._dir.name) / f"{name}.npy", "wb")  # noqa: SIM115 - closed later
            np.lib.format.write_array_header_1_0(
                fh,
                {
                    "descr": np.lib.format.dtype_to_descr(np.dtype(dt)),
                    "fortran_order": False,
                    "shape": shape,
                },
            )
            self._files[name] = fh
            self._hashes[name] = (np.dtype(dt), shape, hashlib.sha256())
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
            self._hashes[name][2].update(data)
        self.written += len(enc)

    def finish(self, out: str | Path, meta: dict[str, Any]) -> None:
        """Close the streamed arrays and write `out` (streamed arrays + `meta`) atomically."""
        for fh in self._files.values():
            fh.close()
        meta = {k: np.asarray(v) for k, v in meta.items()}
        parts = {name: (dt, shape, h.digest()) for name, (dt, shape, h) in self._hashes.items()}
        for name, a in meta.items():
            parts[name] = (a.dtype, a.shape, _sha(a))
        meta[DIGEST] = np.asarray(_digest(parts))
        meta[FIELD_DIGESTS] = np.asarray(
            [
                f"{name}={_field_digest(name, *parts[name])}"
                for name in sorted(parts)
                if _covered(name)
            ]
        )

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
        "tokenizer": tok.fingerprint(),
        "context_points": k * tok.cfg.compression_factor,
        "n_tokens": k,
        "num_embeddings": tok.vocab_size,
        **{key: info[key] for key in INFO if key in info and info[key] is not None},
    }


def _sha(a: np.ndarray) -> bytes:
    return hashlib.sha256(np.ascontiguousarray(a).data).digest()


def _covered(name: str) -> bool:
    return name in FIELDS or name in OPTIONAL


def _digest(parts: dict[str, tuple[np.dtype, tuple[int, ...], bytes]]) -> str:
    """One digest over the fields that decode uses: name, dtype, shape and content of each."""
    h = hashlib.sha256()
    for name in sorted(parts):
        if _covered(name):
            dt, shape, content = parts[name]
            h.update(f"{name}|{dt.str}|{shape}|".encode())
            h.update(content)
    return h.hexdigest()


def _field_digest(name: str, dt: np.dtype, shape: tuple[int, ...], content: bytes) -> str:
    return hashlib.sha256(f"{name}|{dt.str}|{shape}|".encode() + content).hexdigest()[:32]


def _altered(a: dict[str, np.ndarray], listed: np.ndarray | None) -> str:
    """Which field differs from the one `tsvq encode` wrote, as far as its field digests say."""
    try:
        written = dict(str(x).split("=", 1) for x in np.asarray(listed).reshape(-1))
    except (TypeError, ValueError):
        return "its digest does not match its content"
    for name in sorted(set(written) | {k for k in a if _covered(k)}):
        if name not in a:
            return f"'{name}' was dropped"
        if name not in written:
            return f"'{name}' was added"
        v = a[name]
        if written[name] != _field_digest(name, v.dtype, v.shape, _sha(v)):
            return f"'{name}' was changed"
    return "its digest was changed"


def read_tokens(path: str | Path) -> Tokens:
    """Load a tokens file written by `tsvq encode` and check every field decode uses."""
    p = Path(path)
    a = _arrays(p)
    scalars = {}
    for name in ("format_version", "context_points", "n_tokens", "num_embeddings"):
        v = a[name]
        if v.shape != () or not np.issubdtype(v.dtype, np.integer):
            raise _bad(p, name, f"shape {v.shape} dtype {v.dtype}")
        scalars[name] = int(v)
    if scalars["format_version"] not in (1, VERSION):
        raise _bad(p, "format_version", scalars["format_version"])
    if scalars["format_version"] >= 2:
        _check_digest(p, a)
    _check_shapes(p, a, scalars["n_tokens"])
    try:
        scaler = Scaler(
            str(a["scaler_kind"]),
            a["scaler_shift"].astype(np.float32),
            a["scaler_scale"].astype(np.float32),
        )
    except (TypeError, ValueError):
        raise _bad(p, "scaler_shift", "numbers") from None
    return Tokens(
        codes=a["codes"],
        mean=a["mean"],
        std=a["std"],
        start=a["start"],
        columns=[str(x) for x in a["columns"]],
        scaler=scaler,
        tokenizer=str(a["tokenizer"]),
        context_points=scalars["context_points"],
        n_tokens=scalars["n_tokens"],
        num_embeddings=scalars["num_embeddings"],
        mask=a.get("mask"),
        version=scalars["format_version"],
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
        with np.load(p, allow_pickle=False) as npz:
            a = {k: npz[k] for k in npz.files if _covered(k) or k in (DIGEST, FIELD_DIGESTS)}
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as exc:
        raise TsvqError(f"cannot read tokens file {p}: {one_line(exc, 200)}") from None
    missing = [k for k in FIELDS if k not in a]
    if missing or a["format"].shape != () or str(a["format"]) != FORMAT:
        raise TsvqError(
            f"{p} is not a tsvq tokens file (lacks {', '.join(missing or ['format'])}"
            "); write one with `tsvq encode`"
        )
    return a


def _bad(p: Path, name: str, got: object) -> TsvqError:
    return TsvqError(
        f"tokens file {p}: '{name}' must be {FIELDS.get(name) or OPTIONAL[name]}, got {got}"
    )


def _check_digest(p: Path, a: dict[str, np.ndarray]) -> None:
    """A version-2 file's digest over every field (removed from `a`), naming an altered one."""
    stored, listed = a.pop(DIGEST, None), a.pop(FIELD_DIGESTS, None)
    if (
        stored is None
        or stored.shape != ()
        or stored.dtype.kind != "U"
        or str(stored) != (_digest({k: (v.dtype, v.shape, _sha(v)) for k, v in a.items()}))
    ):
        why = "its digest does not match its content" if listed is None else _altered(a, listed)
        raise TsvqError(
            f"tokens file {p} was altered or damaged after `tsvq encode` wrote it: {why}"
        )


def _check_shapes(p: Path, a: dict[str, np.ndarray], n_tokens: int) -> None:
    """Every field's shape and kind agree with the codes [n, C, n_tokens]."""
    codes = a["codes"]
    if codes.ndim != 3 or not np.issubdtype(codes.dtype, np.integer):
        raise _bad(p, "codes", f"shape {codes.shape} dtype {codes.dtype}")
    n, c, k = codes.shape
    if n_tokens != k:
        raise _bad(p, "n_tokens", f"{n_tokens} with codes of shape {codes.shape}")
    shapes = {
        "mean": (n, c),
        "std": (n, c),
        "start": (n,),
        "columns": (c,),
        "scaler_shift": (c,),
        "scaler_scale": (c,),
        "scaler_kind": (),
        "tokenizer": (),
    }
    for name, shape in shapes.items():
        if a[name].shape != shape:
            raise _bad(p, name, f"shape {a[name].shape} with codes of shape {codes.shape}")
    for name in ("columns", "scaler_kind", "tokenizer"):
        if a[name].dtype.kind != "U":
            raise _bad(p, name, f"dtype {a[name].dtype}")
    if not np.issubdtype(a["start"].dtype, np.integer):
        raise _bad(p, "start", f"dtype {a['start'].dtype}")
    mask = a.get("mask")
    if mask is not None and (mask.shape != codes.shape or mask.dtype != np.bool_):
        raise _bad(p, "mask", f"shape {mask.shape} dtype {mask.dtype}")


def check_against(
    tokens: Tokens, tok: Tokenizer, path: str | Path, source: str | Path = "--checkpoint"
) -> None:
    """Refuse tokens that another tokenizer made, or whose scaler or lengths disagree with it.

    `source` names the tokenizer in messages (its checkpoint or folder)."""
    k = tokens.n_tokens
    diff = []
    if tokens.num_embeddings != tok.vocab_size:
        diff.append(f"num_embeddings {tokens.num_embeddings} vs {tok.vocab_size}")
    if k % tok.cfg.tokens_per_patch or tokens.context_points != k * tok.cfg.compression_factor:
        diff.append(
            f"context_points {tokens.context_points} with n_tokens {k}, vs "
            f"compression_factor {tok.cfg.compression_factor} and patch_size "
            f"{tok.cfg.patch_size}"
        )
    if diff:
        raise TsvqError(
            f"{path} was made by a tokenizer of another configuration "
            f"({'; '.join(diff)}; tokens file vs {source})"
        )
    if tokens.tokenizer != tok.fingerprint():
        raise TsvqError(
            f"{path} was made by another model (tokenizer {tokens.tokenizer}, {source} is "
            f"{tok.fingerprint()}): its codes index a different codebook"
        )
    c = len(tokens.columns)
    own, _ = tok.scaler_for(c, tokens.columns)
    # version 1 files only ever held the training scaler; version 2 may scale other columns
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
    tokens.scaler = check_scaler(tokens.scaler, c)
