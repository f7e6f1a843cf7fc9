"""Shapes a user has: one 1-D series, lengths that are not whole patches (padding), and lists of
series of different lengths. Checked here, one `TsvqError` per fault; padded by `pad_series`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, get_args

import numpy as np
import torch

from tsvq.errors import TsvqError

# How `encode(pad=...)` lengthens a window to whole patches: "none" refuses such a window,
# "edge" repeats its last value, "reflect" mirrors its last steps (not repeating the last),
# "zero" appends zeros in the model's input space (the window's mean under RevIN; without
# RevIN the training mean). The padding never changes a window's RevIN statistics.
Pad = Literal["none", "edge", "reflect", "zero"]
PADS = get_args(Pad)


def check_pad(pad: Pad) -> None:
    """`pad=` is one of PADS."""
    if not isinstance(pad, str) or pad not in PADS:
        raise TsvqError(f"pad={pad!r} is not one of {', '.join(map(repr, PADS))}")


def padded_length(t: int, patch_size: int) -> int:
    """The whole patches that hold T steps: T rounded up to a multiple of patch_size."""
    return -(-t // patch_size) * patch_size


def check_length(t: int, shape: tuple[int, ...], patch_size: int, pad: Pad, name: str) -> None:
    """T steps of `name` (given as `shape`) fit whole patches, or `pad` pads them."""
    p = patch_size
    if t % p == 0 or pad != "none":
        return
    c = shape[-1] if len(shape) > 1 else 1
    layout = {1: "[T]", 2: "[T, C]"}.get(len(shape), "[B, T, C]")
    hint = "; if it is [B, C, T], swap the last two axes" if c % p == 0 and c != t else ""
    lower = f"{t // p * p} or " if t > p else ""
    raise TsvqError(
        f"{name} has T = {t} time steps (shape {shape} as {layout}); T must be a positive "
        f"multiple of patch_size {p}: the nearest are {lower}{(t // p + 1) * p}{hint}; or "
        "encode with pad='edge', 'reflect' or 'zero' to pad it"
    )


def pad_series(xn: torch.Tensor, t_pad: int, pad: Pad) -> torch.Tensor:
    """Series [N, T] in the model's input space, lengthened to [N, t_pad] as `pad` says."""
    n, t = xn.shape
    if t_pad == t:
        return xn
    if pad == "zero":
        tail = xn.new_zeros(n, t_pad - t)
    elif pad == "edge" or t == 1:  # one step mirrors to itself
        tail = xn[:, -1:].expand(n, t_pad - t)
    else:  # reflect, as numpy's: ... x[T-3] x[T-2] | x[T-1] | x[T-2] x[T-3] ..., bouncing
        period = 2 * (t - 1)
        pos = torch.arange(t, t_pad, device=xn.device) % period
        tail = xn[:, torch.where(pos < t, pos, period - pos)]
    return torch.cat([xn, tail], dim=1)


def padded_steps(n: int, t: int, t_pad: int, device: torch.device) -> torch.Tensor:
    """bool [n, t_pad]: True at the steps padding added."""
    steps = torch.zeros(n, t_pad, dtype=torch.bool, device=device)
    steps[:, t:] = True
    return steps


def series_of(member: np.ndarray | torch.Tensor, i: int) -> np.ndarray | torch.Tensor:
    """List member `i`, one series [T] or [T, C], as [1, T, C]."""
    if member.ndim not in (1, 2):
        raise TsvqError(
            f"x[{i}] has shape {tuple(member.shape)}; each member of a list is one series "
            "[T] or [T, C] (a list of numbers: pass np.asarray(x); windows of one length: "
            "stack them into one array [B, T, C])"
        )
    return member.reshape(1, -1, 1) if member.ndim == 1 else member[None]


def check_widths(members: Sequence[np.ndarray | torch.Tensor]) -> int:
    """The channels every member [1, T_i, C] of a list shares, else one line naming the first
    member of another width."""
    c = members[0].shape[2]
    for i, m in enumerate(members):
        if m.shape[2] != c:
            raise TsvqError(
                f"x[{i}] has {m.shape[2]} channel(s) (shape {tuple(m.shape[1:])} as [T, C]) "
                f"but x[0] has {c}: every series of a list has the same channels"
            )
    return c


def check_same_names(names: Sequence[list[str] | None]) -> None:
    """The series of a list (DataFrames, named Series) name their channels alike."""
    for i, given in enumerate(names):
        if given != names[0]:
            raise TsvqError(
                f"x[{i}] names its channels {given} but x[0] {names[0]}: every series of a "
                "list has the same channels, named alike (select them in one order)"
            )


def unpadded(x: np.ndarray, enc: object) -> np.ndarray:
    """Decoded windows [B, T', C] of `enc` (an Encoded) cut back to the length it encoded, and
    to [T] when it encoded one 1-D series."""
    length = getattr(enc, "length", None)
    if length is not None:
        x = x[:, :length]
    return x[0, :, 0] if getattr(enc, "input_1d", False) else x
