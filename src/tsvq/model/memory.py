"""How much memory a model configuration needs, known before anything is allocated.

The estimate walks the layers `model.build_encoder` / `build_decoder` make (the same stage
strides) and counts, in bytes: the weights with their gradients and two AdamW moments, each
banded convolution's int64 index (up to L_out * kernel * C_in * C_out entries), the
activations of one batch kept for the backward pass (twice, for their gradients), and the
quantizer's distance matrix [tokens, codes]. It is a planning figure,
meant to catch sizes that cannot fit (a codebook of 10^9 codes, hidden sizes of 10^5), not to
be exact to the megabyte.
"""

from __future__ import annotations

import contextlib
import os

import torch

from tsvq.errors import TsvqError
from tsvq.model.vqvae import ModelConfig, stage_strides

F32, I64 = 4, 8


Conv = tuple[int, int, int, int, int]  # (c_in, c_out, kernel, L_in, L_out)


def _conv_groups(cfg: ModelConfig) -> list[tuple[list[Conv], int]]:
    """The model's convolutions in order, as (a group of them, how many times it repeats): the
    residual blocks are counted, not listed, since a file may carry an absurd number of them."""
    h, r, d = cfg.block_hidden_size, cfg.res_hidden_size, cfg.embedding_dim
    strides = stage_strides(cfg.compression_factor, cfg.patch_size)
    widths = [1, h // 2] + [h] * (len(strides) - 1)  # channels between the strided stages
    encoder, length = [], cfg.patch_size
    for i, s in enumerate(strides):
        out = (length + 2 - 4) // s + 1
        encoder.append((widths[i], widths[i + 1], 4, length, out))
        length = out
    b = length  # the length the residual blocks and the code layers run at
    res = ([(h, r, 3, b, b), (r, h, 1, b, b)], cfg.num_residual_layers)
    decoder = []
    for i, s in enumerate(strides[::-1]):
        decoder.append((widths[::-1][i], widths[::-1][i + 1], s + 2, length, length * s))
        length *= s
    return [
        (encoder, 1),
        ([(h, h, 3, b, b)], 1),
        res,
        ([(h, d, 1, b, b), (d, h, 3, b, b)], 1),
        res,
        (decoder, 1),
    ]


def _conv_layers(cfg: ModelConfig) -> list[Conv]:
    """(c_in, c_out, kernel, L_in, L_out) of every convolution of the model."""
    return [conv for group, n in _conv_groups(cfg) for _ in range(n) for conv in group]


def training_bytes(cfg: ModelConfig, batch_size: int, training: bool = True) -> int:
    """Estimated peak bytes to train (or, `training=False`, to run) on `batch_size` series."""
    weights = index = act = 0
    for group, n in _conv_groups(cfg):
        for c_in, c_out, k, l_in, l_out in group:
            weights += (c_in * c_out * k + c_out) * n
            if not (k == 1 and l_in == l_out):  # pointwise convolutions need no band
                index += l_out * min(l_in, k) * c_in * c_out * n
            act += l_out * c_out * n
    codebook = cfg.num_embeddings * cfg.embedding_dim
    per_weight = 4 if training else 1  # weight, gradient, two AdamW moments
    total = (weights + codebook) * F32 * per_weight + codebook * F32 * 2  # EMA statistics
    total += index * I64 + index * F32 * (2 if training else 1)  # index, packed weights
    series_patches = batch_size * cfg.n_patches
    total += series_patches * act * F32 * (2 if training else 1)
    total += batch_size * cfg.n_tokens * cfg.num_embeddings * F32 * (2 if training else 1)
    return int(total)


def available_bytes(device: str = "cpu") -> int | None:
    """Memory free for this process on `device` (CPU: MemAvailable), or None if unknown."""
    if device.startswith("cuda"):
        with contextlib.suppress(RuntimeError):
            return int(torch.cuda.mem_get_info(torch.device(device))[0])
        return None
    with contextlib.suppress(OSError, ValueError), open("/proc/meminfo") as fh:
        for line in fh:
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    with contextlib.suppress(OSError, ValueError, AttributeError):
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    return None


def check_fits(
    cfg: ModelConfig, batch_size: int, device: str = "cpu", training: bool = True, where: str = ""
) -> None:
    """Refuse, with the estimate, a configuration whose memory would not fit on `device`."""
    need = training_bytes(cfg, batch_size, training)
    free = available_bytes(device)
    if free is not None and need > free:
        what = "training" if training else "running"
        raise TsvqError(
            f"{where}{what} this model needs about {size_text(need)} (block_hidden_size="
            f"{cfg.block_hidden_size}, res_hidden_size={cfg.res_hidden_size}, num_embeddings="
            f"{cfg.num_embeddings}, embedding_dim={cfg.embedding_dim}, batch of {batch_size} "
            f"series), more than the {size_text(free)} free on {device}; choose smaller sizes"
        )


def size_text(n: int) -> str:
    """A size in GiB, or in MiB below a quarter of one."""
    return f"{n / 2**30:,.1f} GiB" if n >= 2**28 else f"{n / 2**20:,.0f} MiB"
