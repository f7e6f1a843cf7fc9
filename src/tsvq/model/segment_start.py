"""A starting point for training: the network starts as the raw-segment codebook.

With `segment_start`, the encoder maps each token's `compression_factor` time steps to the
first `compression_factor` dimensions of its vector, unchanged (the other dimensions 0), and
the decoder maps them back: a codebook fitted on the encoder's outputs is then the network-free
baseline (k-means on raw segments), and training starts from its quality instead of from
noise. Only the weights change, never the model's function: TOTEM's class loads the result.

Every value travels as a pair of channels, relu(v) and relu(-v), so the ReLUs TOTEM's function
puts after every stage pass it unchanged (v = relu(v) - relu(-v)). The channels the pairs do
not use keep PyTorch's random start; what they feed into the path starts at 0, and the last
convolution of every residual block starts at 0 (each block starts as relu(x) + 0), so the
network grows from the baseline by gradient.
"""

from __future__ import annotations

from typing import cast

import torch
from torch import nn

from tsvq.model.vqvae import VQVAE, ModelConfig, stage_strides


def segment_start_fits(cfg: ModelConfig) -> bool:
    """Whether the widths hold the pairs: 2 x compression_factor channels through the encoder
    and decoder, and compression_factor dimensions in each code vector."""
    cf, h = cfg.compression_factor, cfg.block_hidden_size
    first = stage_strides(cf, cfg.patch_size)[0]  # the values of a first-stage position
    return cfg.embedding_dim >= cf and 2 * cf <= h and 2 * first <= h // 2


@torch.no_grad()
def segment_start(model: VQVAE) -> None:
    """Set the encoder and decoder weights so the model starts as the raw-segment codebook
    (see the module's docstring); a model whose widths cannot hold it is refused."""
    if not segment_start_fits(model.cfg):
        raise ValueError(
            "segment_start needs embedding_dim >= compression_factor and "
            "block_hidden_size >= 2 x compression_factor"
        )
    cfg = model.cfg
    cf = cfg.compression_factor
    strides = stage_strides(cf, cfg.patch_size)
    convs = [m for m in model.encoder if isinstance(m, nn.Conv1d)]
    strided, mixer, project = convs[: len(strides)], convs[len(strides)], convs[-1]
    per = 1  # time steps each position of the current stage holds
    for i, (conv, s) in enumerate(zip(strided, strides, strict=True)):
        _clear_rows(conv, 2 * per * s)
        for t in range(s):  # output j holds input positions s*j + t: kernel tap t + 1
            for q in range(per):
                out = 2 * (t * per + q)
                if i == 0:  # the raw series, one channel: the pair (x, -x)
                    conv.weight[out, 0, t + 1], conv.weight[out + 1, 0, t + 1] = 1.0, -1.0
                else:
                    _pair(conv.weight[:, :, t + 1], out, 2 * q)
        per *= s
    _clear_rows(mixer, 2 * cf)
    for q in range(cf):
        _pair(mixer.weight[:, :, 1], 2 * q, 2 * q)  # the centre tap: each position itself
    _zero_residual_outputs(model.encoder)
    _clear_rows(project, project.out_channels)
    for q in range(cf):  # v = relu(v) - relu(-v)
        project.weight[q, 2 * q, 0], project.weight[q, 2 * q + 1, 0] = 1.0, -1.0
    _decoder_start(model, strides)


def _decoder_start(model: VQVAE, strides: list[int]) -> None:
    cf = model.cfg.compression_factor
    convs = [m for m in model.decoder if isinstance(m, nn.Conv1d | nn.ConvTranspose1d)]
    first, stages = convs[0], convs[1:]
    _clear_rows(first, 2 * cf)
    for q in range(cf):  # the pair (e_q, -e_q) of each code vector's first cf dimensions
        first.weight[2 * q, q, 1], first.weight[2 * q + 1, q, 1] = 1.0, -1.0
    _zero_residual_outputs(model.decoder)
    per = cf  # values each position holds
    for i, (conv, s) in enumerate(zip(stages, strides[::-1], strict=True)):
        now = per // s
        last = i == len(stages) - 1
        _clear_cols(conv, 1 if last else 2 * now)  # transposed: weight [C_in, C_out, k]
        for t in range(s):  # output s*i + t takes tap t + 1 of input i
            for q in range(now):
                src = 2 * (t * now + q)
                w = conv.weight[:, :, t + 1]
                if last:  # linear: the value itself
                    w[src, 0], w[src + 1, 0] = 1.0, -1.0
                else:
                    w[src, 2 * q], w[src + 1, 2 * q] = 1.0, -1.0
                    w[src, 2 * q + 1], w[src + 1, 2 * q + 1] = -1.0, 1.0
        per = now


def _pair(w: torch.Tensor, out: int, src: int) -> None:
    """Output pair (out, out + 1) = (relu(v), relu(-v)) from input pair src = (relu, relu-)."""
    w[out, src], w[out, src + 1] = 1.0, -1.0
    w[out + 1, src], w[out + 1, src + 1] = -1.0, 1.0


def _clear_rows(conv: nn.Conv1d | nn.ConvTranspose1d, n: int) -> None:
    """The first n output channels of a convolution start at 0, bias included."""
    conv.weight[:n].zero_()
    if conv.bias is not None:
        conv.bias[:n].zero_()
    # what the other channels read from the path stays random: they are free features


def _clear_cols(conv: nn.Conv1d | nn.ConvTranspose1d, n: int) -> None:
    """The first n output channels of a transposed convolution start at 0, bias included."""
    conv.weight[:, :n].zero_()
    if conv.bias is not None:
        conv.bias[:n].zero_()


def _zero_residual_outputs(stack: nn.Sequential) -> None:
    for module in stack.modules():
        blocks = getattr(module, "blocks", None)
        if isinstance(blocks, nn.ModuleList):
            for block in blocks:
                cast(nn.Conv1d, cast(nn.Sequential, block)[-1]).weight.zero_()
