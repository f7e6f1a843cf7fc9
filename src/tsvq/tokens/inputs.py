"""What users hand to `Tokenizer.encode` / `decode`, checked: one clear `TsvqError` per fault
(the Tokenizer itself only computes)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from tsvq.data.cells import F32_MAX
from tsvq.data.windows import Scaler
from tsvq.errors import TsvqError
from tsvq.model.vqvae import ModelConfig
from tsvq.runtime.device import pick_device
from tsvq.tokens.gaps import MISSING, EmptySeries, Missing, fill_linear
from tsvq.tokens.shapes import Pad, check_length

# tensors that hold no plain values to compute with, and what to pass instead
_NOT_PLAIN: tuple[tuple[Callable[[torch.Tensor], bool], str], ...] = (
    (lambda v: v.is_nested, "a nested tensor"),
    (lambda v: v.is_meta, "a meta tensor, which holds no values"),
    (lambda v: v.layout != torch.strided, "a sparse tensor: pass .to_dense()"),
    (lambda v: v.is_quantized, "a quantized tensor: pass .dequantize()"),
)


def plain(v: np.ndarray | torch.Tensor | object, name: str) -> np.ndarray | torch.Tensor:
    """`v` as an array of real numbers tsvq can compute with: a numpy array of a float or
    integer dtype torch has too, or a dense tensor holding values; anything else is one line
    naming `name` (a meta, sparse, quantized or nested tensor: what to pass instead)."""
    if torch.is_tensor(v):
        why = next((why for test, why in _NOT_PLAIN if test(v)), None)
        if why:
            raise TsvqError(f"{name} is {why}; expected a dense tensor of real numbers")
        if v.is_complex() or v.dtype == torch.bool:
            raise TsvqError(f"{name} must hold real numbers, got dtype {v.dtype}")
        return v
    try:
        a = np.asarray(v)
    except (TypeError, ValueError) as exc:
        raise TsvqError(f"{name} is not an array of numbers ({type(v).__name__}: {exc})") from None
    if not (np.issubdtype(a.dtype, np.floating) or np.issubdtype(a.dtype, np.integer)):
        raise TsvqError(f"{name} must hold real numbers, got dtype {a.dtype}")
    if a.dtype.itemsize > 8:  # float128 and the like: no torch dtype holds them
        raise TsvqError(f"{name} has dtype {a.dtype}; use float64 or a narrower type")
    return a


def check_windows(
    x: np.ndarray | torch.Tensor, patch_size: int, pad: Pad = "none", name: str = "x"
) -> np.ndarray | torch.Tensor:
    """Windows [B, T, C], one window [T, C] or one series [T] (one channel) of real numbers,
    as [B, T, C]; T a positive multiple of patch_size unless `pad` pads it."""
    x = plain(x, name)
    given = tuple(x.shape)
    if x.ndim == 1:
        x = x.reshape(1, -1, 1)
    elif x.ndim == 2:
        x = x[None]
    if x.ndim != 3:
        raise TsvqError(
            f"{name} must be [B, T, C], [T, C] or [T], got {x.ndim} dimension(s), shape "
            f"{tuple(x.shape)}"
        )
    n, t, c = x.shape
    if n == 0 or t == 0 or c == 0:
        raise TsvqError(
            f"{name} is empty (shape {tuple(x.shape)}); it needs at least one window of one channel"
        )
    check_length(t, given, patch_size, pad, name)
    return x


def check_codes(codes: np.ndarray | torch.Tensor, cfg: ModelConfig) -> np.ndarray:
    """Codes [B, C, n_tokens] (or [C, n_tokens]) as int64, n_tokens whole patches, in range."""
    a = as_int_array(codes, "codes")
    if a.ndim == 2:
        a = a[None]
    per_patch = cfg.tokens_per_patch
    if a.ndim != 3 or 0 in a.shape or a.shape[2] % per_patch:
        raise TsvqError(
            f"codes must be [B, C, n_tokens] (or [C, n_tokens]) with n_tokens a positive "
            f"multiple of {per_patch} (patch_size {cfg.patch_size} / compression_factor "
            f"{cfg.compression_factor}), got shape {a.shape}"
        )
    return np.ascontiguousarray(in_range(a, cfg.num_embeddings), dtype=np.int64)


def in_range(a: np.ndarray, vocab_size: int) -> np.ndarray:
    """`a` itself if every code is in 0..vocab_size-1, else TsvqError naming the first one."""
    if a.size and (a.min() < 0 or a.max() >= vocab_size):
        bad = np.argwhere((a < 0) | (a >= vocab_size))[0]
        raise TsvqError(
            f"codes must be in 0..{vocab_size - 1} (num_embeddings {vocab_size}), "
            f"found {a[tuple(bad)]} at index {tuple(int(i) for i in bad)}"
        )
    return a


def check_stats(
    mean: np.ndarray | torch.Tensor | None, std: np.ndarray | torch.Tensor | None, n: int, c: int
) -> tuple[np.ndarray, np.ndarray]:
    """RevIN statistics mean, std [B, C] as float32: finite, std > 0."""
    if mean is None or std is None:
        raise TsvqError("give mean= and std= together, each [B, C]")
    out = []
    for name, v in (("mean", mean), ("std", std)):
        given = plain(v, name)
        a = given.detach().cpu().numpy() if torch.is_tensor(given) else given
        if a.shape == (c,) and n == 1:
            a = a[None]
        if a.shape != (n, c):
            raise TsvqError(f"{name} must be [B, C] = [{n}, {c}], got shape {a.shape}")
        if not np.isfinite(a).all():
            raise TsvqError(f"{name} holds NaN or inf; statistics must be finite")
        if (np.abs(a) > F32_MAX).any():  # float32 would make it inf
            raise TsvqError(
                f"{name} holds {a.flat[np.argmax(np.abs(a) > F32_MAX)]:g}, beyond the float32 "
                f"range (|x| <= {F32_MAX:.4g}) tsvq computes in"
            )
        out.append(np.ascontiguousarray(a, dtype=np.float32))
    if (out[1] <= 0).any():
        bad = np.argwhere(out[1] <= 0)[0]
        raise TsvqError(
            f"std must be > 0 everywhere (RevIN divides by it), got "
            f"{out[1][tuple(bad)]} at window {bad[0]}, channel {bad[1]}"
        )
    return out[0], out[1]


def check_scaler(scaler: Scaler, c: int) -> Scaler:
    """A scaler for C channels with finite shifts and positive finite scales, else TsvqError."""
    if not isinstance(scaler, Scaler):
        raise TsvqError(f"scaler must be a tsvq.data.Scaler, got {type(scaler).__name__}")
    shift, scale = (np.asarray(a, np.float32) for a in (scaler.shift, scaler.scale))
    if shift.shape != (c,) or scale.shape != (c,):
        raise TsvqError(
            f"scaler must have {c} shift(s) and scale(s), one per channel, got "
            f"shapes {shift.shape} and {scale.shape}"
        )
    if not (np.isfinite(shift).all() and np.isfinite(scale).all() and (scale > 0).all()):
        raise TsvqError("scaler shifts must be finite and its scales finite and > 0")
    return Scaler(str(scaler.kind), shift, scale)


def as_int_array(v: np.ndarray | torch.Tensor, name: str) -> np.ndarray:
    """Integer codes as a numpy array, refusing any other dtype."""
    given = plain(v, name)
    a = given.detach().cpu().numpy() if torch.is_tensor(given) else given
    if not np.issubdtype(a.dtype, np.integer):
        raise TsvqError(f"{name} must be integers, got dtype {a.dtype}")
    return a


def device_of(device: str | torch.device) -> torch.device:
    """The torch device `device` names ("cpu", "cuda", "cuda:1", "auto"), one this machine has
    (`runtime.device.pick_device` refuses any other in one line)."""
    if not isinstance(device, str | torch.device):
        raise TsvqError(f"device must be a string or a torch.device, got {type(device).__name__}")
    return pick_device(str(device))


def check_missing(missing: Missing) -> None:
    """`missing=` is one of MISSING."""
    if missing not in MISSING:
        raise TsvqError(f"missing={missing!r} is not one of {', '.join(map(repr, MISSING))}")


def given_stats(
    mean: np.ndarray | torch.Tensor | None,
    std: np.ndarray | torch.Tensor | None,
    n: int,
    c: int,
    revin: bool,
) -> tuple[np.ndarray, np.ndarray] | None:
    """Statistics given to `encode` (None when neither is): only a RevIN model takes them."""
    if mean is None and std is None:
        return None
    if not revin:
        raise TsvqError(
            "mean= and std= normalize like RevIN, but this tokenizer was trained "
            "without RevIN: encode without them"
        )
    return check_stats(mean, std, n, c)


def decode_stats(
    mean: np.ndarray | torch.Tensor | None,
    std: np.ndarray | torch.Tensor | None,
    n: int,
    c: int,
    revin: bool,
    bare: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """The RevIN statistics codes decode with: needed by a RevIN model. A model without RevIN
    takes none with bare codes (as `encode` takes none), and an `Encoded` of it (`bare`
    False) holds the zeros and ones its encode gave, which undo nothing."""
    if not revin:
        none = np.zeros((n, c), np.float32), np.ones((n, c), np.float32)
        if mean is None and std is None:
            return none
        if bare:
            raise TsvqError(
                "mean= and std= undo RevIN, but this tokenizer was trained without RevIN: "
                "decode its codes without them"
            )
        got = check_stats(mean, std, n, c)
        if not (np.array_equal(got[0], none[0]) and np.array_equal(got[1], none[1])):
            raise TsvqError(
                "this Encoded's mean and std are not the zeros and ones a tokenizer trained "
                "without RevIN gives; decode it with the tokenizer that encoded it"
            )
        return none
    if mean is None or std is None:
        raise TsvqError(
            "bare codes of a RevIN model need mean= and std= [B, C]: the RevIN statistics of "
            "the windows they stand for (Encoded.mean and Encoded.std)"
        )
    return check_stats(mean, std, n, c)


def windows_per_pass(batch_size: int | None, default: int) -> int:
    """`batch_size` windows per forward pass if given (a positive integer), else `default`."""
    if batch_size is None:
        return default
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise TsvqError(f"batch_size must be a positive integer, got {batch_size!r}")
    return batch_size


def finite_on(
    part: np.ndarray | torch.Tensor,
    device: torch.device,
    offset: int,
    names: list[str],
    check: bool,
) -> torch.Tensor:
    """Windows [b, T, C] as float32 on `device`; with `check`, every value finite."""
    if torch.is_tensor(part):
        t = part.detach().to(device, torch.float32)
    else:
        with np.errstate(over="ignore"):  # beyond float32: inf, named below
            t = tensor_of(part, np.float32).to(device)
    bad = ~torch.isfinite(t)
    if bad.any():
        b, i, ch = (int(v) for v in bad.nonzero()[0])
        given = float(part[b, i, ch])
        where = f"at window {offset + b}, time step {i}, channel {ch} ({names[ch]})"
        if np.isfinite(given):  # finite as given, but not in float32: never a gap
            raise TsvqError(
                f"x holds {given:g} {where}, beyond the float32 range (|x| <= {F32_MAX:.4g}) "
                "tsvq computes in"
            )
        if check:
            raise TsvqError(
                f"x holds {given} {where}; every value must be a finite number (or encode "
                "with missing='interpolate' to fill gaps)"
            )
    return t


def tensor_of(a: np.ndarray, dtype: type | np.dtype | None = None) -> torch.Tensor:
    """`a` (as `dtype`) as a CPU tensor, copied only where torch could not share it: not
    contiguous, or read-only (torch would warn that it cannot be written to)."""
    return torch.from_numpy(np.require(a, dtype, ("C_CONTIGUOUS", "WRITEABLE")))


def filled(
    series: torch.Tensor, offset: int, names: list[str]
) -> tuple[torch.Tensor, torch.Tensor]:
    """Series [b*C, T] with their gaps filled, and where (see `gaps.fill_linear`)."""
    try:
        return fill_linear(series)
    except EmptySeries as exc:
        b, ch = divmod(exc.row, len(names))
        raise TsvqError(
            f"x has no finite value at all in window {offset + b}, channel {ch} "
            f"({names[ch]}): nothing to interpolate from"
        ) from None


def only_bare(*given: object) -> None:
    """decode(Encoded) takes no statistics, names or scaler: the Encoded has its own."""
    if not all(v is None for v in given):
        raise TsvqError(
            "pass mean, std, columns and scaler only with bare codes; an Encoded has its own"
        )
