"""Benchmark training splits pooled into one collection of univariate series.

What a tokenizer meant for any data trains on: each dataset is read through the registry (the
embedded ETT copies, the files `tsvq data download` fetches), cut by its own split rule, and
scaled by its own training-split scaler; only its training rows are kept, and each channel
becomes a series of its own. The model is channel-independent (RevIN per window), so a pool of
channels is what it sees in any case; series of different datasets never share a window.

`mix` weighs the datasets: a batch draws windows uniformly from the pool, so a dataset's share
of the batches is its share of the windows (weather's 21 channels of 36,887 rows outweigh
illness's 7 of 966 a hundredfold). With `mix=a` every series of dataset d is repeated
round((n_max / n_d) ** (1 - a)) times, n_d its training values (rows x channels): a = 1 keeps
the natural shares, a = 0 gives every dataset about the same share, a = 0.5 is between
(shares proportional to the square root of the size). `weights` multiplies one dataset's
repeats on top (a dataset the mix leaves short of codes).

`aggregate` adds coarser copies of every series: with factor a, the means of consecutive
blocks of a values (a remainder shorter than a is dropped), as if the data had been sampled a
times less often; a copy shorter than two windows is left out. Hourly data seen at 4-hourly
and daily resolutions carries the smooth shapes weekly and monthly data are made of.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from tsvq.data.registry import resolve_path
from tsvq.data.synthetic import smooth_series
from tsvq.data.table import read_table
from tsvq.data.windows import DataSpec, SeriesData, prepare
from tsvq.errors import TsvqError

SYNTHETIC_LENGTH = 2000


@dataclass(frozen=True)
class PoolPart:
    """One dataset's share of a pool: its training rows and channels, and the file's digest."""

    dset: str
    rows: int
    channels: int
    sha256: str | None
    repeats: int = 1  # how many times each of its series is in the pool (`mix`, `weights`)
    aggregates: tuple[int, ...] = (1,)  # the block-mean factors of its series in the pool


def benchmark(dset: str, context_points: int) -> SeriesData:
    """A registered dataset split by its rule and scaled by its own training split (all
    channels, standard scaling), windows of `context_points`."""
    spec = DataSpec(dset, None, None, context_points)
    return prepare(read_table(resolve_path(dset, None, None), dset), spec)


def training_pool(
    dsets: Sequence[str],
    context_points: int,
    mix: float = 1.0,
    weights: Mapping[str, float] | None = None,
    aggregate: Sequence[int] = (1,),
    synthetic: int = 0,
) -> tuple[list[dict[str, object]], list[PoolPart]]:
    """The training split of every dataset in `dsets`, one series per channel, as `tsvq.fit`
    takes a list of series (`{"target": [T], "item_id": "dset/column"}`, a block-mean copy's id
    ending in `@a`, a repeat's in `#k`), each dataset's series repeated as `mix` and `weights`
    say, and what each dataset gave. `synthetic` adds that many random smooth series
    (`data.synthetic`, 2,000 steps each) as one more dataset of the pool, "synthetic"."""
    if not 0.0 <= mix <= 1.0:
        raise TsvqError(f"mix must be in [0, 1], not {mix}")
    weights = dict(weights or {})
    for dset, w in weights.items():
        if dset not in dsets:
            raise TsvqError(f"weight for {dset!r}: not one of the pool's {', '.join(dsets)}")
        if not w > 0:
            raise TsvqError(f"weight for {dset!r} must be above 0, not {w}")
    if not aggregate or any(isinstance(a, bool) or int(a) != a or a < 1 for a in aggregate):
        raise TsvqError(f"aggregate factors must be whole numbers >= 1, not {list(aggregate)}")
    factors = tuple(dict.fromkeys(int(a) for a in aggregate))
    trains = {}
    for dset in dsets:
        data = benchmark(dset, context_points)
        # [rows, C], scaled by its own statistics
        trains[dset] = (data.columns, data.splits["train"], data.sha256)
    if synthetic:
        made = smooth_series(synthetic, SYNTHETIC_LENGTH)
        trains["synthetic"] = ([f"s{i}" for i in range(synthetic)], np.stack(made, 1), None)
    largest = max(train.size for _, train, _ in trains.values())
    series: list[dict[str, object]] = []
    parts = []
    for dset, (columns, train, sha256) in trains.items():
        natural = (largest / train.size) ** (1.0 - mix)
        repeats = max(1, round(natural * weights.get(dset, 1.0)))
        # a series itself is always kept, as before `aggregate`; a coarser copy only if long
        kept = tuple(a for a in factors if a == 1 or train.shape[0] // a >= 2 * context_points)
        for k in range(repeats):
            for a in kept:
                for i, column in enumerate(columns):
                    item = f"{dset}/{column}" + (f"@{a}" if a > 1 else "") + (f"#{k}" if k else "")
                    series.append({"target": block_mean(train[:, i], a), "item_id": item})
        parts.append(PoolPart(dset, train.shape[0], train.shape[1], sha256, repeats, kept))
    return series, parts


def block_mean(values: np.ndarray, factor: int) -> np.ndarray:
    """The means of consecutive blocks of `factor` values (a shorter remainder dropped), as a
    contiguous float32 array; `factor` 1 is the values themselves."""
    if factor == 1:
        return np.ascontiguousarray(values)
    n = values.shape[0] // factor
    blocks = values[: n * factor].astype(np.float64).reshape(n, factor)
    return blocks.mean(axis=1).astype(values.dtype)
