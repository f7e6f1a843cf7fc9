"""Back to the data's own units: undo RevIN with a window's statistics, then the training scaler.

The one implementation that evaluation (errors in original units), plots (windows over their
reconstructions) and the tokenizer (decode) share.
"""

from __future__ import annotations

import torch

from tsvq.data.windows import Scaler
from tsvq.model.revin import RevinStats, denormalize


def original_units(
    series: torch.Tensor, scaler: Scaler, stats: RevinStats | None = None
) -> torch.Tensor:
    """Series [B, C, T] in the model's space -> the data's units.

    `stats`: the RevIN statistics the series were normalized with ([B*C, 1] or [B, C, 1]), or
    None for series that are only scaled (a model without RevIN, or the input itself).
    `scaler`: C channels' x_scaled = (x - shift) / scale.
    """
    if stats is not None:
        shape = (*series.shape[:-1], 1)
        series = denormalize(
            series, RevinStats(stats.mean.reshape(shape), stats.std.reshape(shape))
        )
    shift = torch.as_tensor(scaler.shift, device=series.device)[:, None]
    scale = torch.as_tensor(scaler.scale, device=series.device)[:, None]
    return series * scale + shift
