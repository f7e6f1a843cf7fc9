"""Reversible instance normalisation without hidden state: statistics are returned, passed back."""

from __future__ import annotations

from typing import NamedTuple

import torch

EPS = 1e-5


class RevinStats(NamedTuple):
    """Per-series mean and standard deviation, each shaped [..., 1] to broadcast over time."""

    mean: torch.Tensor
    std: torch.Tensor


def normalize(x: torch.Tensor, eps: float = EPS) -> tuple[torch.Tensor, RevinStats]:
    """Normalise each series of `x` ([..., T]) over its last axis; return it and its statistics.

    The statistics are computed in float64 and returned in `x`'s dtype: the squares of finite
    float32 values beyond about 1.8e19 overflow float32, which made the standard deviation
    infinite and the window all zeros. In float64 no finite float32 input overflows (the
    largest square is about 1.2e77), and mean and std, which lie within the values' range,
    fit float32 again.
    """
    wide = x.double()
    mean = wide.mean(dim=-1, keepdim=True)
    std = torch.sqrt(wide.var(dim=-1, keepdim=True, unbiased=False) + eps)
    return ((wide - mean) / std).to(x.dtype), RevinStats(mean.to(x.dtype), std.to(x.dtype))


def denormalize(x: torch.Tensor, stats: RevinStats) -> torch.Tensor:
    """Undo `normalize` with the statistics it returned (in float64, as they were taken)."""
    return (x.double() * stats.std.double() + stats.mean.double()).to(x.dtype)
