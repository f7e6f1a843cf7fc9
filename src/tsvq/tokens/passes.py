"""Windows through the model in bounded passes: the loops under `Tokenizer.encode` and `decode`.

Inputs go through in passes of about VALUES_PER_PASS values (whole windows), so memory
grows with the pass, not with the input (a sliding-window view is never copied whole).
`pass_size` is the one place every inference entry point (encode, decode, eval, plot, and the
forecaster's encoding through `Tokenizer.encode`) sizes its passes and keeps freed memory.
Every input here has been checked (`inputs`); these functions only compute.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from tsvq.data.windows import Scaler
from tsvq.model.memory import check_fits
from tsvq.model.revin import RevinStats, normalize
from tsvq.model.vqvae import VQVAE
from tsvq.runtime import cpu
from tsvq.tokens.encoded import Encoded
from tsvq.tokens.gaps import token_mask
from tsvq.tokens.inputs import filled, finite_on, only_bare, tensor_of, windows_per_pass
from tsvq.tokens.shapes import Pad, pad_series, padded_length, padded_steps
from tsvq.tokens.units import original_units

# Values per forward pass by default: 64 series of 512 steps, a training batch at the defaults,
# 2,048 patches whatever the context. A pass's largest activation is then 2 MB, in cache and
# reused from one pass to the next (freed memory kept), where eval's 4,096 series of 512 made
# 134 MB arrays that glibc mapped and unmapped afresh every pass.
VALUES_PER_PASS = 64 * 512


def unpacked(
    tokens: Encoded | np.ndarray | torch.Tensor,
    mean: Any,
    std: Any,
    columns: list[str] | None,
    scaler: Scaler | None,
) -> tuple[Any, Any, Any, list[str] | None, Scaler | None]:
    """What decode decodes: an `Encoded`'s codes, statistics, names and scaler (it takes no
    others), or bare codes with the ones given."""
    if not isinstance(tokens, Encoded):
        return tokens, mean, std, columns, scaler
    only_bare(mean, std, columns, scaler)
    return tokens.codes, tokens.mean, tokens.std, tokens.columns, tokens.scaler


def per_pass(values_per_window: int) -> int:
    """Windows per forward pass by default: about VALUES_PER_PASS values."""
    return max(1, VALUES_PER_PASS // values_per_window)


def pass_size(model: VQVAE, batch_size: int | None, n: int, values_per_window: int) -> int:
    """Windows per forward pass: `batch_size` if given (a positive integer), else `per_pass`'s;
    checked first by `check_pass`, so a `batch_size` far beyond what the device holds, or one
    enormous window, is one line instead of an exhausted machine."""
    step = min(windows_per_pass(batch_size, per_pass(values_per_window)), max(n, 1))
    what = f"a window of {values_per_window:,} values (time steps x channels)"
    check_pass(model, step * values_per_window, batch_size, what)
    return step


def check_pass(model: VQVAE, values: int, batch_size: int | None, what: str) -> None:
    """The one check before an inference entry point's first pass: its largest pass of `values`
    values against the model's memory estimate (in training windows' worth), the error naming
    `batch_size=` when it was given, else `what` a pass holds; and glibc keeps the memory a
    pass frees for the next (`cpu.keep_freed_memory`, as training does)."""
    cpu.keep_freed_memory()
    series = -(-values // model.cfg.context_points)  # training windows' worth
    where = f"batch_size={batch_size}: " if batch_size is not None else f"{what}: "
    check_fits(model.cfg, series, str(model.quantizer.codebook.device), False, where)


@torch.inference_mode()
def encode_passes(
    model: VQVAE,
    x: np.ndarray | torch.Tensor,
    scaler: Scaler,
    names: list[str],
    given: tuple[np.ndarray, np.ndarray] | None,
    gaps: bool,
    step: int,
    pad: Pad = "none",
) -> Encoded:
    """The codes of windows `x` [B, T, C] in original units, scaled by `scaler`, normalized as
    `normalized` chooses, their gaps filled (and masked) with `gaps`, padded to whole patches
    as `pad` says (and masked), `step` windows a pass."""
    n, t, c = x.shape
    t_pad = padded_length(t, model.cfg.patch_size)
    k = t_pad // model.cfg.compression_factor
    mask = np.zeros((n, c, k), dtype=bool) if gaps or t_pad > t else None
    codes, mean, std = (
        np.empty((n, c, k), np.int64),
        np.zeros((n, c), np.float32),
        np.ones((n, c), np.float32),
    )
    out = Encoded(codes, mean, std, scaler, mask, names, t if t_pad > t else None)
    for lo in range(0, n, step):
        xn, stats, made_up = prepared(model, x[lo : lo + step], scaler, names, given, lo, gaps, pad)
        hi = lo + xn.shape[0] // c
        out.codes[lo:hi] = model.codes_of(xn).reshape(-1, c, k).cpu().numpy()
        if out.mask is not None and made_up is not None:
            out.mask[lo:hi] = made_up.reshape(-1, c, k).cpu().numpy()
        if stats is not None:
            out.mean[lo:hi] = stats.mean.reshape(-1, c).cpu().numpy()
            out.std[lo:hi] = stats.std.reshape(-1, c).cpu().numpy()
    return out


def prepared(
    model: VQVAE,
    windows: np.ndarray | torch.Tensor,
    scaler: Scaler,
    names: list[str],
    given: tuple[np.ndarray, np.ndarray] | None,
    lo: int,
    gaps: bool,
    pad: Pad,
) -> tuple[torch.Tensor, RevinStats | None, torch.Tensor | None]:
    """Windows [b, T, C] (numbers lo.. of the input) in the model's input space: scaled by
    `scaler`, gaps filled with `gaps`, normalized, padded to whole patches as `pad` says.
    Returns the series [b*C, T'], their statistics, and which tokens [b*C, T' / cf] hold a
    value made up (a fill or padding; None when none can)."""
    device = model.quantizer.codebook.device
    part = finite_on(windows, device, lo, names, check=not gaps)
    b, t, c = part.shape
    shift, scale = (torch.as_tensor(v, device=device) for v in (scaler.shift, scaler.scale))
    series = ((part - shift) / scale).transpose(1, 2).reshape(-1, t)  # [b*C, T] scaled
    made_up = None
    if gaps:
        series, made_up = filled(series, lo, names)
    xn, stats = normalized(model, series, given, lo, lo + b)
    t_pad = padded_length(t, model.cfg.patch_size)
    if t_pad > t:
        xn = pad_series(xn, t_pad, pad)
        steps = padded_steps(b * c, t, t_pad, device)
        made_up = (
            steps if made_up is None else steps | torch.nn.functional.pad(made_up, (0, t_pad - t))
        )
    k = t_pad // model.cfg.compression_factor
    return xn, stats, None if made_up is None else token_mask(made_up, k)


def normalized(
    model: VQVAE,
    series: torch.Tensor,
    given: tuple[np.ndarray, np.ndarray] | None,
    lo: int,
    hi: int,
) -> tuple[torch.Tensor, RevinStats | None]:
    """The normalisation choice, in one place: scaled series [b*C, T] of windows lo..hi in the
    model's space, with the statistics given for them, else each window's own RevIN
    statistics, else (a model without RevIN) as they are."""
    if given is not None:
        device = series.device
        stats = RevinStats(*(tensor_of(a[lo:hi].reshape(-1, 1)).to(device) for a in given))
        return (series - stats.mean) / stats.std, stats
    return normalize(series) if model.cfg.revin else (series, None)


@torch.inference_mode()
def decode_passes(
    model: VQVAE, codes: np.ndarray, stats: tuple[np.ndarray, np.ndarray], scaler: Scaler, step: int
) -> np.ndarray:
    """Codes [B, C, n_tokens] with their RevIN statistics [B, C] -> [B, T, C], original units."""
    n, c, k = codes.shape
    t, device = k * model.cfg.compression_factor, model.quantizer.codebook.device
    out = np.empty((n, t, c), dtype=np.float32)
    for lo in range(0, n, step):
        hi = min(lo + step, n)
        z = tensor_of(codes[lo:hi].reshape(-1, k)).to(device)
        window_stats = RevinStats(*(tensor_of(a[lo:hi].reshape(-1, 1)).to(device) for a in stats))
        series = model.decode(z, None).reshape(hi - lo, c, t)  # [b, C, T] model space
        out[lo:hi] = original_units(series, scaler, window_stats).transpose(1, 2).cpu().numpy()
    return out
