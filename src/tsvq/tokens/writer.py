"""Tokens files (.npz) written: their fields, and the writer that streams them to disk.

A tokens file holds the fields of `FIELDS` (and those of `OPTIONAL` that apply). Codes are
stored in the smallest unsigned type that holds num_embeddings - 1 (uint8 up to 256 codes);
every field is sealed by its digest (`trust`). A file is version 4 exactly when it holds a
field version 3 lacked (`length`, `index`); any other is written as version 3, which tsvq 0.2
reads too. The door that reads them is `npz`.
"""

from __future__ import annotations

import json
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from tsvq import trust
from tsvq.data.windows import Scaler
from tsvq.files import write_with

FORMAT = "tsvq-tokens"
VERSION = 4
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
    "format_version": ("iu", (), "1 (int64 codes), 2, 3 or 4"),
}
OPTIONAL = {
    "mask": (
        "b",
        ("n", "C", "k"),
        "[n, C, n_tokens] bool: tokens whose steps include a filled gap or padding",
    ),
    "length": ("iu", (), "steps per window before padding, 1..context_points (version 4)"),
    "index": (
        "MiufU",
        ("n",),
        "[n] the index label (a time stamp) of each window's first step (version 4)",
    ),
    "series": (
        "U",
        ("n",),
        "[n] the series of each window, in a file of several (start counts its rows) (version 4)",
    ),
}
NEW_IN_4 = ("length", "index", "series")
DIGEST = "digest"  # version 3: trust's {field: digest} of FIELDS and OPTIONAL, as JSON
FIELD_DIGESTS = "field_digests"  # version 2's "name=digest" list, beside its whole-file digest
# Written for the reader's information only; decode never uses them.
INFO = ("dset", "split", "stride", "missing")


@dataclass(frozen=True)
class Origin:
    """The tokenizer that made some codes, as a tokens file names it."""

    fingerprint: str
    compression_factor: int
    num_embeddings: int


def code_dtype(num_embeddings: int) -> np.dtype:
    """The smallest unsigned integer type holding 0..num_embeddings-1."""
    return np.min_scalar_type(max(num_embeddings - 1, 0))


def covered(name: str) -> bool:
    return name in FIELDS or name in OPTIONAL


def seal(digests: dict[str, str]) -> np.ndarray:
    """The `digest` field: the fields' digests (`trust.digest` of each array), as JSON."""
    return np.asarray(json.dumps(dict(sorted(digests.items()))))


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

    def add(
        self,
        codes: np.ndarray,
        mean: np.ndarray,
        std: np.ndarray,
        start: np.ndarray,
        mask: np.ndarray | None = None,
    ) -> None:
        """The next windows' arrays, in order (`mask` when the writer keeps one)."""
        parts: dict[str, np.ndarray | None] = {
            "codes": codes,
            "mean": mean,
            "std": std,
            "start": start,
        }
        if "mask" in self._files:
            parts["mask"] = mask
        for name, a in parts.items():
            data = np.ascontiguousarray(a, self._dtypes[name]).data
            self._files[name].write(data)
            self._hashes[name].update(data)
        self.written += len(codes)

    def finish(self, out: str | Path, meta: dict[str, Any]) -> None:
        """Close the streamed arrays and write `out` (streamed arrays + `meta`) atomically."""
        try:
            for fh in self._files.values():
                fh.close()
            meta = {k: np.asarray(v) for k, v in meta.items()}
            digests = {n: h.hexdigest()[: trust.DIGEST_CHARS] for n, h in self._hashes.items()}
            digests.update({k: trust.digest(a) for k, a in meta.items() if covered(k)})
            meta[DIGEST] = seal(digests)

            def write(tmp: Path) -> None:
                with zipfile.ZipFile(tmp, "w", zipfile.ZIP_STORED, allowZip64=True) as zf:
                    for name in self._files:
                        zf.write(Path(self._dir.name) / f"{name}.npy", f"{name}.npy")
                    for name, value in meta.items():
                        with zf.open(f"{name}.npy", "w", force_zip64=True) as fh:
                            np.lib.format.write_array(fh, value, allow_pickle=False)

            write_with(out, write)
        finally:
            self.close()

    def close(self) -> None:
        for fh in self._files.values():
            fh.close()
        self._dir.cleanup()


def header(
    origin: Origin,
    columns: list[str],
    scaler: Scaler,
    k: int,
    info: dict[str, Any],
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The small fields of a tokens file (everything but the streamed per-window arrays):
    `extra` holds the version 4 fields that apply (`length`, `index`, `series`), if any."""
    extra = {name: v for name, v in (extra or {}).items() if v is not None}
    return {
        "format": FORMAT,
        "format_version": VERSION if any(name in extra for name in NEW_IN_4) else 3,
        "columns": np.asarray(columns, dtype=str),
        "scaler_kind": scaler.kind,
        "scaler_shift": scaler.shift,
        "scaler_scale": scaler.scale,
        "tokenizer": origin.fingerprint,
        "context_points": k * origin.compression_factor,
        "n_tokens": k,
        "num_embeddings": origin.num_embeddings,
        **{key: info[key] for key in INFO if key in info and info[key] is not None},
        **extra,
    }
