"""The baselines every quality figure stands beside, on the same windows as the model.

- The equal-bit codebook without a network: k-means with the model's K codes on the raw
  `compression_factor`-step segments of the model-space training windows (RevIN-normalised per
  window and channel when the model uses RevIN). Each segment becomes one of K codes, so it
  spends log2(K) bits on `compression_factor` values: exactly the model's budget.
- The window mean: each window predicted by its own mean in model space (about 1.0 with RevIN).

The codebook is fitted in seconds: a bounded sample of training series drawn at random window
starts (so segments of every phase are seen), all their segments, k-means++ and a fixed number
of Lloyd iterations under a fixed seed.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np
import torch

from tsvq.data.windows import SPLITS, SeriesData, window_chunks
from tsvq.errors import TsvqError
from tsvq.model.kmeans import kmeans, nearest
from tsvq.model.revin import normalize

FIT_SEGMENTS = 300_000  # training segments the codebook is fitted on (whole series: about)
KMEANS_ITERS = 25
SEED = 0
CHUNK_VALUES = 1 << 21  # values per chunk of series: bounds memory whatever the split's size


@dataclass(frozen=True)
class Baseline:
    """The two baselines of one split, in the model's space (per element, as `tsvq eval`)."""

    split: str
    codebook_size: int
    segment: int  # time steps per code: the model's compression factor
    revin: bool
    kmeans_mse: float  # the equal-bit codebook without a network
    window_mean_mse: float  # each window predicted by its own mean
    kmeans_mse_per_channel: tuple[float, ...]
    window_mean_mse_per_channel: tuple[float, ...]
    fit_segments: int  # training segments the codebook was fitted on
    seconds: float  # fitting and scoring, wall clock

    @property
    def bits_per_value(self) -> float:
        return bits_per_value(self.codebook_size, self.segment)


def bits_per_value(codebook_size: int, compression_factor: int) -> float:
    """Bits a token spends on each time step: log2(K) / compression_factor."""
    return math.log2(codebook_size) / compression_factor


def model_space(x: torch.Tensor, revin: bool) -> torch.Tensor:
    """Series [..., T] as the model sees them: RevIN-normalised (its eps), or as given."""
    return normalize(x)[0] if revin else x


def fit_codebook(
    data: SeriesData,
    codebook_size: int,
    segment: int,
    revin: bool,
    n_segments: int = FIT_SEGMENTS,
    iters: int = KMEANS_ITERS,
    seed: int = SEED,
) -> torch.Tensor:
    """k-means codebook [codebook_size, segment] of model-space training segments.

    Series (a window start and a channel) are drawn at random without replacement until they
    hold `n_segments` segments (every series when the split has fewer); all the segments of
    each drawn series are used. Window starts are every row, so every phase is sampled.
    """
    sample = training_segments(data, segment, revin, n_segments, seed)
    return kmeans(sample, codebook_size, iters, seed)


def training_segments(
    data: SeriesData, segment: int, revin: bool, n_segments: int, seed: int
) -> torch.Tensor:
    """The model-space segments [n, segment] `fit_codebook` fits on."""
    t = _check_segment(data, segment)
    views = data.windows("train")  # [n_windows, C, T], a view
    n_series = views.shape[0] * views.shape[1]
    per_series = t // segment
    take = min(n_series, max(1, -(-n_segments // per_series)))
    rng = np.random.default_rng(seed)
    picks = np.sort(rng.choice(n_series, size=take, replace=False))
    c = views.shape[1]
    rows = []
    step = max(1, CHUNK_VALUES // t)
    for i in range(0, take, step):
        idx = picks[i : i + step]
        x = torch.from_numpy(np.ascontiguousarray(views[idx // c, idx % c]))  # [b, T]
        rows.append(model_space(x, revin).reshape(-1, segment))
    return torch.cat(rows)


def series_errors(
    codebook: torch.Tensor, x: torch.Tensor, revin: bool
) -> tuple[torch.Tensor, torch.Tensor]:
    """Summed squared errors [N] (float64) of the codebook and of the window mean on series
    `x` [N, T] (scaled, as the model takes them), each in the model's space."""
    xm = model_space(x, revin)
    code = segment_errors(codebook, xm).reshape(x.shape[0], -1)
    mean = (xm - xm.mean(dim=-1, keepdim=True)).double().pow(2)
    return code.sum(dim=1), mean.sum(dim=1)


def segment_errors(codebook: torch.Tensor, xm: torch.Tensor) -> torch.Tensor:
    """Summed squared error [N * T / segment] (float64) of each segment of model-space series
    `xm` [N, T] against its nearest code, segment by segment in order."""
    seg = xm.reshape(-1, codebook.shape[1])  # [N*T/segment, segment]
    return (seg - codebook[nearest(seg, codebook)]).double().pow(2).sum(dim=1)


def score(
    codebook: torch.Tensor, data: SeriesData, split: str, revin: bool
) -> tuple[np.ndarray, np.ndarray]:
    """MSE per element and channel [C] of the codebook and of the window mean on every window
    of `split` (the windows `tsvq eval` scores), summed in float64."""
    if split not in SPLITS:
        raise TsvqError(f"split={split!r} is not one of {', '.join(SPLITS)}")
    t = _check_segment(data, codebook.shape[1])
    c = data.n_channels
    se_code = np.zeros(c)
    se_mean = np.zeros(c)
    n_windows = 0
    for chunk in window_chunks(data, split, CHUNK_VALUES):
        b = chunk.shape[0]
        code, mean = series_errors(codebook, torch.from_numpy(chunk).reshape(b * c, t), revin)
        se_code += code.reshape(b, c).sum(dim=0).numpy()
        se_mean += mean.reshape(b, c).sum(dim=0).numpy()
        n_windows += b
    per = max(n_windows * t, 1)
    return se_code / per, se_mean / per


def baseline(
    data: SeriesData,
    split: str,
    codebook_size: int,
    compression_factor: int,
    revin: bool = True,
    n_segments: int = FIT_SEGMENTS,
    iters: int = KMEANS_ITERS,
    seed: int = SEED,
) -> Baseline:
    """Fit the equal-bit codebook on `data`'s training split and score both baselines on `split`.

    Parameters
    ----------
    data
        The model's data: split, scaled, with its `context_points` windows.
    split
        The split to score: "train", "val" or "test".
    codebook_size, compression_factor
        The model's K and time steps per token: the codebook has K codes of that many steps.
    revin
        Whether the model works in RevIN space (each window normalised by its own statistics).
    n_segments, iters, seed
        The fit: training segments sampled, Lloyd iterations, seed of the sample and the start.

    Returns
    -------
    Baseline
        MSE per element in the model's space, overall and per channel, of both baselines.
    """
    if codebook_size < 1:
        raise TsvqError(f"codebook_size must be a positive integer, got {codebook_size}")
    t0 = time.perf_counter()
    sample = training_segments(data, compression_factor, revin, n_segments, seed)
    codebook = kmeans(sample, codebook_size, iters, seed)
    code_mse, mean_mse = score(codebook, data, split, revin)
    return Baseline(
        split=split,
        codebook_size=codebook_size,
        segment=compression_factor,
        revin=revin,
        kmeans_mse=float(code_mse.mean()),
        window_mean_mse=float(mean_mse.mean()),
        kmeans_mse_per_channel=tuple(float(v) for v in code_mse),
        window_mean_mse_per_channel=tuple(float(v) for v in mean_mse),
        fit_segments=sample.shape[0],
        seconds=round(time.perf_counter() - t0, 2),
    )


def _check_segment(data: SeriesData, segment: int) -> int:
    t = data.spec.context_points
    if segment < 1 or t % segment:
        raise TsvqError(
            f"a baseline segment of {segment} steps must divide context_points={t} "
            "(the model's compression factor divides its patch size, which divides the window)"
        )
    return t
