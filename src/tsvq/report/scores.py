"""A tokenizer on another dataset's test split, beside that dataset's own k-means codebook.

The figures of the shipped tokenizers' model cards and of the zero-shot table: the target is
read through the registry, split by its own rule and scaled by its own training split
(`data.pool.benchmark`), windowed at the tokenizer's context; the tokenizer is scored by
`report.evaluate` and the equal-bit codebook is fitted on the target's own training split
(`report.baseline`), both on the same test windows, in RevIN space over every channel and in
the original units of the target column.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from tsvq.data.pool import benchmark
from tsvq.data.windows import SeriesData, window_chunks
from tsvq.files import atomic_path
from tsvq.model.kmeans import nearest
from tsvq.model.revin import denormalize, normalize
from tsvq.report.baseline import CHUNK_VALUES, fit_codebook, score
from tsvq.report.evaluate import evaluate
from tsvq.tokens.tokenizer import Tokenizer

TARGET = "OT"  # every benchmark here has it: the column reported in original units


@dataclass(frozen=True)
class Score:
    """One tokenizer (or the target's own k-means codebook) on one dataset's test split."""

    dset: str
    windows: int
    mse: float  # per element, RevIN space, every channel
    mse_target: float  # per element of the target column, in its original units
    codes_used: int | None  # None for the codebook (not measured)
    perplexity: float | None


def target_data(dset: str, context_points: int) -> SeriesData:
    """`dset` as a tokenizer of windows of `context_points` meets it: its own scaler."""
    return benchmark(dset, context_points)


def tokenizer_score(tok: Tokenizer, data: SeriesData) -> Score:
    """`tok` on the test windows of `data` (a target: `target_data`)."""
    r = evaluate(tok, data, "test")
    column = next(c for c in r.per_channel if c.channel == TARGET)
    return Score(data.spec.dset, r.windows, r.mse, column.mse_original, r.codes_used, r.perplexity)


def kmeans_score(data: SeriesData, codebook_size: int, compression_factor: int) -> Score:
    """The equal-bit k-means codebook fitted on `data`'s own training split, on its test
    windows (RevIN space: `report.baseline.score`; the target column undone to its units)."""
    codebook = fit_codebook(data, codebook_size, compression_factor, revin=True)
    mse, _ = score(codebook, data, "test", revin=True)
    k = data.columns.index(TARGET)
    scale = float(data.scaler.scale[k])  # scaled -> original units: x * scale + shift
    se, n, windows = 0.0, 0, 0
    for chunk in window_chunks(data, "test", CHUNK_VALUES):  # [b, C, T], scaled
        x = torch.from_numpy(np.ascontiguousarray(chunk[:, k]))  # [b, T]
        xm, stats = normalize(x)
        recon = codebook[nearest(xm.reshape(-1, compression_factor), codebook)]
        err = denormalize(recon.reshape(xm.shape), stats).double() - x.double()
        se += float((err * scale).pow(2).sum())
        n += x.numel()
        windows += x.shape[0]
    return Score(data.spec.dset, windows, float(mse.mean()), se / max(n, 1), None, None)


def cached_kmeans_score(
    data: SeriesData, codebook_size: int, compression_factor: int, cache: Path | None
) -> Score:
    """`kmeans_score`, kept in the JSON file `cache` (None: not kept) under the data's digest
    and the codebook's shape: the fit is deterministic (fixed seed) and takes a minute or more
    on a shared CPU, and the card of every tokenizer needs the same ones."""
    key = _key(data, codebook_size, compression_factor)
    return _cached(cache, key, lambda: kmeans_score(data, codebook_size, compression_factor))


def cached_tokenizer_score(tok: Tokenizer, data: SeriesData, cache: Path | None) -> Score:
    """`tokenizer_score`, kept in `cache` under the tokenizer's fingerprint (its weights) and
    the data's digest: the zero-shot table reads the figures its cards computed."""
    key = "tok:" + _key(data, tok.fingerprint)
    return _cached(cache, key, lambda: tokenizer_score(tok, data))


def _key(data: SeriesData, *more: object) -> str:
    spec = data.spec
    return "/".join(map(str, (spec.dset, data.sha256, spec.context_points, *more)))


def _cached(cache: Path | None, key: str, compute: Callable[[], Score]) -> Score:
    kept = json.loads(cache.read_text(encoding="utf-8")) if cache and cache.is_file() else {}
    if key in kept:
        return Score(**kept[key])
    result = compute()
    if cache is not None:
        kept = json.loads(cache.read_text(encoding="utf-8")) if cache.is_file() else {}
        kept[key] = asdict(result)
        with atomic_path(cache) as tmp:
            tmp.write_text(json.dumps(kept, indent=1, sort_keys=True), encoding="utf-8")
    return result
