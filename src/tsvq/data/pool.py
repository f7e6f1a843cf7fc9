"""Benchmark training splits pooled into one collection of univariate series.

What a tokenizer meant for any data trains on: each dataset is read through the registry (the
embedded ETT copies, the files `tsvq data download` fetches), cut by its own split rule, and
scaled by its own training-split scaler; only its training rows are kept, and each channel
becomes a series of its own. The model is channel-independent (RevIN per window), so a pool of
channels is what it sees in any case; series of different datasets never share a window.
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


def benchmark(dset: str, context_points: int) -> SeriesData:
    """A registered dataset split by its rule and scaled by its own training split (all
    channels, standard scaling), windows of `context_points`."""
    spec = DataSpec(dset, None, None, context_points)
    return prepare(read_table(resolve_path(dset, None, None), dset), spec)


def training_pool(
    dsets: Sequence[str], context_points: int
) -> tuple[list[dict[str, object]], list[PoolPart]]:
    """The training split of every dataset in `dsets`, one series per channel, as `tsvq.fit`
    takes a list of series (`{"target": [T], "item_id": "dset/column"}`), and what each
    dataset gave."""
    series: list[dict[str, object]] = []
    parts = []
    for dset in dsets:
        data = benchmark(dset, context_points)
        train = data.splits["train"]  # [rows, C], scaled by this dataset's own statistics
        for i, column in enumerate(data.columns):
            series.append(
                {"target": np.ascontiguousarray(train[:, i]), "item_id": f"{dset}/{column}"}
            )
        parts.append(PoolPart(dset, train.shape[0], train.shape[1], data.sha256))
    return series, parts
