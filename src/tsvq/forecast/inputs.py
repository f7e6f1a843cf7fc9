"""What the forecaster reads: context and target windows of a split, and their tokens.

The tokenizer is frozen, so the codes of every context are computed once per split
(`encode_split`, through `Tokenizer.encode` alone) and batches gather them by series with the
windows they stand for. Series k of a split is channel k % C of window k // C, as the
tokenizer's training batches count them.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch

from tsvq.data.collection import Windows
from tsvq.data.windows import Scaler, SeriesData
from tsvq.errors import TsvqError
from tsvq.model.revin import normalize
from tsvq.runtime.distributed import all_reduce_sum, rank, world_size
from tsvq.tokens.tokenizer import Tokenizer

# context series per call of Tokenizer.encode: bounds the memory of a pass whatever the split
ENCODE_SERIES = 4096


@dataclass
class Batch:
    """N series: contexts in their own RevIN space with their statistics, targets, code ids."""

    context: torch.Tensor  # [N, L] normalised
    mean: torch.Tensor  # [N] the context's RevIN mean, scaled units
    std: torch.Tensor  # [N] the context's RevIN std
    target: torch.Tensor  # [N, H] scaled units (empty [N, 0] when forecasting the unknown)
    ids: torch.Tensor | None  # [N, n_tokens] int64 codes, or None for patches

    def to(self, device: torch.device) -> Batch:
        def move(t: torch.Tensor) -> torch.Tensor:
            return t.to(device, non_blocking=True)

        ids = None if self.ids is None else move(self.ids)
        return Batch(move(self.context), move(self.mean), move(self.std), move(self.target), ids)


def check_tokenizer(tok: Tokenizer) -> None:
    """Refuse a tokenizer the forecaster cannot read: one trained without RevIN."""
    if not tok.cfg.revin:
        raise TsvqError(
            "the forecaster reads each context in its own RevIN space, but this tokenizer was "
            "trained without RevIN (tsvq train --revin 0); train one with tsvq train --revin 1"
        )


def fingerprint(tok: Tokenizer) -> str:
    """The tokenizer's fingerprint, as a plain string."""
    return str(tok.fingerprint)


def encode_split(tok: Tokenizer, windows: Windows, context_points: int) -> np.ndarray:
    """Codes [n_windows, C, n_tokens] of the contexts of `windows` [n, C, L + H] (scaled).

    The windows are scaled already (by the forecaster's data scaler), so the tokenizer scales
    nothing (RevIN cancels any per-channel scaler up to its epsilon anyway). Under torchrun
    each process encodes a share of the windows and the shares are summed into the whole.
    """
    n, c, _ = windows.shape
    identity = Scaler("none", np.zeros(c, np.float32), np.ones(c, np.float32))
    k = context_points // tok.cfg.compression_factor
    out = torch.zeros((n, c, k), dtype=torch.int32)
    step = max(1, ENCODE_SERIES // c)
    for lo in range(rank() * step, n, step * world_size()):
        part = windows[lo : lo + step, :, :context_points].transpose(0, 2, 1)  # [b, L, C]
        out[lo : lo + step] = torch.from_numpy(tok.encode(part, scaler=identity).codes)
    all_reduce_sum(out)
    return out.numpy()


def gather(
    windows: Windows,
    index: np.ndarray,
    context_points: int,
    codes: np.ndarray | None = None,
) -> Batch:
    """The series `index` of `windows` [n, C, L + H] (and of their `codes`) as one `Batch`."""
    c = windows.shape[1]
    w, ch = index // c, index % c
    rows = torch.from_numpy(np.ascontiguousarray(windows[w, ch]))  # [N, L + H] a copy
    context, stats = normalize(rows[:, :context_points])
    ids = None if codes is None else torch.from_numpy(codes[w, ch].astype(np.int64))
    return Batch(context, stats.mean[:, 0], stats.std[:, 0], rows[:, context_points:], ids)


def batches(
    windows: Windows,
    order: np.ndarray,
    batch_size: int,
    context_points: int,
    codes: np.ndarray | None = None,
    max_batches: int | None = None,
) -> Iterator[Batch]:
    """Batches of the series `order` names, in that order."""
    n = -(-len(order) // batch_size)
    for b in range(n if max_batches is None else min(n, max_batches)):
        yield gather(windows, order[b * batch_size : (b + 1) * batch_size], context_points, codes)


@dataclass
class Split:
    """One split as the forecaster reads it: windows of context + horizon, and their codes."""

    windows: Windows  # [n_windows, C, L + H] scaled, a view
    codes: np.ndarray | None = None  # [n_windows, C, n_tokens] int32; None for patches

    @property
    def n_series(self) -> int:
        return self.windows.shape[0] * self.windows.shape[1]


def prepare(
    tok: Tokenizer | None, data: SeriesData, horizon: int, names: tuple[str, ...]
) -> dict[str, Split]:
    """The splits `names` of `data` as the forecaster reads them; codes when `tok` is given."""
    out = {name: Split(data.forecast_windows(name, horizon)) for name in names}
    if tok is not None:
        for split in out.values():
            split.codes = encode_split(tok, split.windows, data.spec.context_points)
    return out
