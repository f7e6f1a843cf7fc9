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
    """Normalise each series of `x` ([..., T]) over its last axis; return it and its statistics."""
    mean = x.mean(dim=-1, keepdim=True)
    std = torch.sqrt(x.var(dim=-1, keepdim=True, unbiased=False) + eps)
    return (x - mean) / std, RevinStats(mean, std)


def denormalize(x: torch.Tensor, stats: RevinStats) -> torch.Tensor:
    """Undo `normalize` with the statistics it returned."""
    return x * stats.std + stats.mean
