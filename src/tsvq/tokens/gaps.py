"""Gaps in a series: fill them linearly along time, and mark the tokens that touched a fill."""

from __future__ import annotations

import torch

# what `encode(missing=...)` accepts: the same choice as training's --missing
from tsvq.data.gaps import MISSING as MISSING
from tsvq.data.gaps import Missing as Missing
from tsvq.errors import TsvqError


def fill_linear(series: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Series [N, T] with NaN/inf gaps -> (filled series, bool [N, T] True where filled).

    Inside a series a gap is the straight line between the finite values on either side; at
    either end it takes the nearest finite value. A series with no finite value raises
    `TsvqError` naming its row; the caller says which window and channel that is.
    """
    ok = torch.isfinite(series)
    filled = ~ok
    if not filled.any():
        return series, filled
    empty = ~ok.any(dim=1)
    if empty.any():
        raise EmptySeries(int(empty.nonzero()[0]))
    n, t = series.shape
    steps = torch.arange(t, device=series.device).expand(n, t)
    # index of the last finite value at or before each step (-1: none), and of the next one
    prev = torch.where(ok, steps, -1).cummax(dim=1).values
    nxt = torch.where(ok, steps, t).flip(1).cummin(dim=1).values.flip(1)
    prev_i = torch.where(prev < 0, nxt, prev)  # leading gap: the first finite value
    next_i = torch.where(nxt >= t, prev_i, nxt)  # trailing gap: the last finite value
    clean = torch.where(ok, series, 0.0)
    lo, hi = clean.gather(1, prev_i), clean.gather(1, next_i)
    span = (next_i - prev_i).clamp(min=1).to(series.dtype)
    frac = (steps - prev_i).to(series.dtype) / span
    return torch.where(ok, series, lo + (hi - lo) * frac), filled


def token_mask(filled: torch.Tensor, n_tokens: int) -> torch.Tensor:
    """Filled steps [N, T] -> bool [N, n_tokens], True where a token's steps hold a fill.

    A token stands for the compression_factor consecutive steps at its position in the series.
    """
    return filled.reshape(filled.shape[0], n_tokens, -1).any(dim=2)


class EmptySeries(TsvqError):
    """A series with no finite value at all: nothing to interpolate from."""

    def __init__(self, row: int) -> None:
        super().__init__(f"series {row} has no finite value")
        self.row = row
