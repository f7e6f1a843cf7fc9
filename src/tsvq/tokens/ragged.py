"""A list of series of different lengths through the model together: `Tokenizer.encode` and
`decode` of a list.

The model codes each patch on its own, so the patches of many series of different lengths go
through it as one batch: each series is scaled, filled and normalized on its own (its RevIN
statistics are its own), padded to whole patches, and its patches join one pass with those of
the series beside it. A pass holds about VALUES_PER_PASS values, as every inference pass does (or
`batch_size` series), so memory grows with the pass, not with the list.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch

from tsvq.data.record import DataRecord
from tsvq.data.windows import Scaler
from tsvq.errors import TsvqError
from tsvq.model.revin import RevinStats
from tsvq.model.vqvae import VQVAE, ModelConfig
from tsvq.tokens import channels, frames, inputs, shapes
from tsvq.tokens.encoded import Encoded
from tsvq.tokens.gaps import Missing
from tsvq.tokens.inputs import tensor_of, windows_per_pass
from tsvq.tokens.passes import VALUES_PER_PASS, check_pass, prepared
from tsvq.tokens.shapes import Pad
from tsvq.tokens.units import original_units

Member = tuple[np.ndarray, tuple[np.ndarray, np.ndarray], Scaler]  # codes, statistics, scaler


def encode_series(
    model: VQVAE,
    data: DataRecord,
    xs: Sequence[Any],
    stats: tuple[Any, Any],
    missing: Missing,
    columns: list[str] | None,
    scaler: Scaler | None,
    batch_size: int | None,
    pad: Pad,
) -> list[Encoded]:
    """`Tokenizer.encode` of a list of series (`data`: what the model was trained on): one
    Encoded each, with its index label and whether it was 1-D."""
    members, indexes, one_d, named = members_of(xs, columns, model.cfg.patch_size, pad)
    c = members[0].shape[2]
    scaler, names = channels.scaler_for(data, model.cfg.revin, c, named, scaler)
    given = inputs.given_stats(*stats, len(members), c, model.cfg.revin)
    gaps = missing == "interpolate"
    out = encode_list(model, members, scaler, names, given, gaps, pad, batch_size)
    return [
        dataclasses.replace(e, index=index, input_1d=flat)
        for e, index, flat in zip(out, indexes, one_d, strict=True)
    ]


def members_of(
    xs: Sequence[Any], columns: list[str] | None, patch_size: int, pad: Pad
) -> tuple[list[Any], list[np.ndarray | None], list[bool], list[str] | None]:
    """The series of a list, checked: each [1, T_i, C], each one's index label and whether it
    was 1-D, and the channels' names they share (`columns`, or the DataFrames' own)."""
    if not xs:
        raise TsvqError("x is an empty list; it needs at least one series [T] or [T, C]")
    members, indexes, one_d, names = [], [], [], []
    for i, x in enumerate(xs):
        given, named, index = frames.unframed(x, columns, f"x[{i}]")
        values = inputs.plain(given, f"x[{i}]")
        one_d.append(values.ndim == 1)
        member = shapes.series_of(values, i)  # [1, T_i, C]
        inputs.check_windows(member, patch_size, pad, f"x[{i}]")
        members.append(member)
        indexes.append(index)
        names.append(named)
    shapes.check_widths(members)
    shapes.check_same_names(names)
    return members, indexes, one_d, names[0]


def decodable(
    e: object, i: int, cfg: ModelConfig, scaler_for: Callable[..., tuple[Scaler, list[str]]]
) -> Member:
    """List member `i` to decode: its codes [B, C, k], statistics and scaler, checked as
    `decode` checks an Encoded (`scaler_for`: the tokenizer's)."""
    if not isinstance(e, Encoded):
        raise TsvqError(
            f"tokens[{i}] is {type(e).__name__}; decode a list of what encode returned for a "
            "list (Encoded), or bare codes as one array"
        )
    codes = inputs.check_codes(e.codes, cfg)
    n, c, _ = codes.shape
    scaler, _ = scaler_for(c, e.columns, e.scaler)
    return codes, inputs.decode_stats(e.mean, e.std, n, c, cfg.revin, False), scaler


def groups(sizes: Sequence[int], model: VQVAE, batch_size: int | None) -> list[range]:
    """Consecutive members per pass: `batch_size` of them if given, else as many as hold about
    VALUES_PER_PASS values (`sizes`: each member's values), at least one; the largest pass
    checked before any starts (`passes.check_pass`, as every inference entry point is)."""
    budget = VALUES_PER_PASS
    step = windows_per_pass(batch_size, len(sizes))
    out, lo, held = [], 0, 0
    for i, size in enumerate(sizes):
        if i > lo and (i - lo >= step or (batch_size is None and held + size > budget)):
            out.append(range(lo, i))
            lo, held = i, 0
        held += size
    out.append(range(lo, len(sizes)))
    most = max(sum(sizes[i] for i in g) for g in out)
    check_pass(model, most, batch_size, "a series of the list")
    return out


@torch.inference_mode()
def encode_list(
    model: VQVAE,
    members: Sequence[np.ndarray | torch.Tensor],
    scaler: Scaler,
    names: list[str],
    given: tuple[np.ndarray, np.ndarray] | None,
    gaps: bool,
    pad: Pad,
    batch_size: int | None,
) -> list[Encoded]:
    """Members [1, T_i, C] (checked) -> one Encoded each, their patches coded in shared passes."""
    p, c = model.cfg.patch_size, len(names)
    out: list[Encoded] = []
    sizes = [shapes.padded_length(m.shape[1], p) * c for m in members]  # values the model sees
    for g in groups(sizes, model, batch_size):
        parts = [prepared(model, members[i], scaler, names, given, i, gaps, pad) for i in g]
        patches = torch.cat([xn.reshape(-1, p) for xn, _, _ in parts])  # [sum of patches, p]
        codes = model.codes_of(patches).cpu().numpy()  # [sum of patches, tokens_per_patch]
        start = 0
        for i, (xn, stats, made_up) in zip(g, parts, strict=True):
            k = xn.shape[1] // model.cfg.compression_factor
            mine = codes[start : start + xn.numel() // p].reshape(1, c, k)
            start += xn.numel() // p
            mean = np.zeros((1, c), np.float32) if stats is None else stats.mean.reshape(1, c)
            std = np.ones((1, c), np.float32) if stats is None else stats.std.reshape(1, c)
            mask = None if made_up is None else made_up.reshape(1, c, k).cpu().numpy()
            t = members[i].shape[1]
            length = t if xn.shape[1] > t else None
            out.append(Encoded(mine, _numpy(mean), _numpy(std), scaler, mask, names, length))
    return out


def _numpy(a: np.ndarray | torch.Tensor) -> np.ndarray:
    return a.cpu().numpy() if torch.is_tensor(a) else a


@torch.inference_mode()
def decode_list(
    model: VQVAE,
    members: Sequence[Member],
    batch_size: int | None,
) -> list[np.ndarray]:
    """Members (codes [B_i, C, k_i], their statistics [B_i, C], scaler) -> [B_i, T_i, C] each
    in original units, their patches decoded in shared passes."""
    tpp, cf = model.cfg.tokens_per_patch, model.cfg.compression_factor
    device = model.quantizer.codebook.device
    out: list[np.ndarray] = []
    for g in groups([m[0].size * cf for m in members], model, batch_size):
        z = torch.cat([tensor_of(members[i][0].reshape(-1, tpp)) for i in g]).to(device)
        series = model.decode(z, None)  # [sum of patches, patch_size] in model space
        start = 0
        for i in g:
            codes, stats, scaler = members[i]
            b, c, k = codes.shape
            mine = series[start : start + codes.size // tpp].reshape(b, c, k * cf)
            start += codes.size // tpp
            window_stats = RevinStats(*(tensor_of(a.reshape(-1, 1)).to(device) for a in stats))
            back = original_units(mine, scaler, window_stats)  # [b, C, T]
            out.append(back.transpose(1, 2).cpu().numpy())
    return out
