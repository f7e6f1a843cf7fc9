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
(shares proportional to the square root of the size).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from tsvq.data.registry import resolve_path
from tsvq.data.table import read_table
from tsvq.data.windows import DataSpec, SeriesData, prepare


@dataclass(frozen=True)
class PoolPart:
    """One dataset's share of a pool: its training rows and channels, and the file's digest."""

    dset: str
    rows: int
    channels: int
    sha256: str | None
    repeats: int = 1  # how many times each of its series is in the pool (`mix`)


def benchmark(dset: str, context_points: int) -> SeriesData:
    """A registered dataset split by its rule and scaled by its own training split (all
    channels, standard scaling), windows of `context_points`."""
    spec = DataSpec(dset, None, None, context_points)
    return prepare(read_table(resolve_path(dset, None, None), dset), spec)


def training_pool(
    dsets: Sequence[str], context_points: int, mix: float = 1.0
) -> tuple[list[dict[str, object]], list[PoolPart]]:
    """The training split of every dataset in `dsets`, one series per channel, as `tsvq.fit`
    takes a list of series (`{"target": [T], "item_id": "dset/column"}`, a repeat's id ending
    in `#k`), each dataset's series repeated as `mix` says, and what each dataset gave."""
    if not 0.0 <= mix <= 1.0:
        raise ValueError(f"mix must be in [0, 1], not {mix}")
    trains = {}
    for dset in dsets:
        data = benchmark(dset, context_points)
        trains[dset] = (data, data.splits["train"])  # [rows, C], scaled by its own statistics
    largest = max(train.size for _, train in trains.values())
    series: list[dict[str, object]] = []
    parts = []
    for dset, (data, train) in trains.items():
        repeats = max(1, round((largest / train.size) ** (1.0 - mix)))
        for k in range(repeats):
            for i, column in enumerate(data.columns):
                item = f"{dset}/{column}" + (f"#{k}" if k else "")
                series.append({"target": np.ascontiguousarray(train[:, i]), "item_id": item})
        parts.append(PoolPart(dset, train.shape[0], train.shape[1], data.sha256, repeats))
    return series, parts
