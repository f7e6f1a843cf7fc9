"""`tsvq encode` of a file read whole, as its run read it: a long-format file (one series per
id), a Parquet file, or one whose time column a flag named (`userfile.read_series`). Windows
are cut series by series, never across two; a file of several series names each window's
series in the tokens file (`series`), and `start` counts rows within it."""

from __future__ import annotations

import dataclasses
import tempfile
from pathlib import Path

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from tsvq.data.registry import CUSTOM, split_rule
from tsvq.data.source import is_parquet
from tsvq.data.spec import DataSpec
from tsvq.data.userfile import read_series
from tsvq.data.windows import as_collection, split_bounds
from tsvq.errors import TsvqError
from tsvq.files import write_failed
from tsvq.tokens.encoded import Encoded
from tsvq.tokens.gaps import Missing
from tsvq.tokens.tokenizer import Tokenizer, origin_of
from tsvq.tokens.writer import TokensWriter, header


def whole_read(path: Path, spec: DataSpec) -> bool:
    """Whether a run's file is read whole (not streamed in chunks of rows)."""
    return bool(spec.id_column or spec.timestamp_column) or (path.is_file() and is_parquet(path))


def recorded_columns(columns: list[str], spec: DataSpec, path: Path) -> list[str]:
    """The value columns a run on a custom file chose (`--columns`, `--exclude`), of a file
    with value columns `columns`; one it lacks is refused."""
    chosen = list(spec.value_columns) if spec.value_columns is not None else list(columns)
    lacks = [c for c in chosen if c not in columns]
    if lacks:
        raise TsvqError(
            f"{path} lacks the column(s) {', '.join(lacks)} the tokenizer's run chose; its "
            f"value columns are {', '.join(columns)}"
        )
    return [c for c in chosen if c not in set(spec.exclude_columns)]


def encode_whole(
    tok: Tokenizer,
    path: Path,
    split: str,
    stride: int,
    t: int,
    missing: Missing,
    out: str | Path,
    batch_size: int | None,
    sha256: str | None,
) -> tuple[int, int, int, int]:
    """`codec.encode_csv` for a file read whole: (windows, C, T, rows no window reaches)."""
    data = as_collection(
        read_series(path, dataclasses.replace(tok.data.spec, missing=missing), sha256)
    )
    lacks = [c for c in tok.columns if c not in data.columns]
    if lacks:
        raise TsvqError(
            f"{path} lacks the channel(s) {', '.join(lacks)} the tokenizer was trained on; its "
            f"value columns are {', '.join(data.columns)}"
        )
    names = list(tok.columns)
    cols = [data.columns.index(c) for c in names]
    several = len(data) > 1
    parts: list[tuple[Encoded, np.ndarray, str, np.ndarray | None]] = []
    left = 0
    for name, s, stamps in zip(data.names, data.series, data.timestamps, strict=True):
        rows = s[:, cols]
        lo, hi = (0, len(rows)) if split == "all" else _bounds(len(rows), t, split, several)
        if hi - lo < t:
            left += hi - lo
            continue
        w = sliding_window_view(rows[lo:hi], t, axis=0)[::stride].swapaxes(1, 2)  # [w, T, C]
        enc = tok.encode(
            np.ascontiguousarray(w), missing=missing, columns=names, batch_size=batch_size
        )
        starts = lo + stride * np.arange(len(w), dtype=np.int64)
        parts.append((enc, starts, name, stamps[starts] if stamps is not None else None))
        left += hi - lo - ((len(w) - 1) * stride + t)
    if not parts:
        raise TsvqError(
            f"no series of {path} has a window of {t} rows in its {split} rows; use a shorter "
            "--context_points, or --split all"
        )
    return _write(tok, parts, names, split, stride, missing, out, several), len(names), t, left


def _bounds(n: int, t: int, split: str, several: bool) -> tuple[int, int]:
    return split_bounds(n, split_rule(CUSTOM), t, short_ok=several)[split]


def _write(
    tok: Tokenizer,
    parts: list[tuple[Encoded, np.ndarray, str, np.ndarray | None]],
    names: list[str],
    split: str,
    stride: int,
    missing: Missing,
    out: str | Path,
    several: bool,
) -> int:
    """The tokens file of `parts` (each series' Encoded, starts, name, start times)."""
    n, k = sum(len(p[1]) for p in parts), parts[0][0].codes.shape[2]
    gaps = missing == "interpolate"
    temporary = f"the temporary arrays of {out} (in {tempfile.gettempdir()})"
    try:
        writer = TokensWriter(n, len(names), k, tok.vocab_size, mask=gaps)
    except OSError as exc:
        raise write_failed(temporary, exc, tempfile.gettempdir()) from None
    try:
        for enc, starts, _, _ in parts:
            mask = enc.mask if enc.mask is not None else np.zeros(enc.codes.shape, bool)
            writer.add(enc.codes, enc.mean, enc.std, starts, mask if gaps else None)
        stamps = [p[3] for p in parts if p[3] is not None]
        extra = {
            "index": np.concatenate(stamps) if len(stamps) == len(parts) else None,
            "series": np.concatenate([[p[2]] * len(p[1]) for p in parts]) if several else None,
        }
        info = {"dset": CUSTOM, "split": split, "stride": stride, "missing": missing}
        writer.finish(out, header(origin_of(tok), names, parts[0][0].scaler, k, info, extra))
    except OSError as exc:
        writer.close()
        raise write_failed(temporary, exc, tempfile.gettempdir()) from None
    except BaseException:
        writer.close()
        raise
    return n
