"""tsvq's encoder and decoder compute TOTEM's function (SaberaTalukder/TOTEM, vqvae.py).

The reference below is written from reading TOTEM's forward passes, as plain functional
convolutions over the same weights: a ReLU after every strided encoder convolution (the last
one included), residual blocks whose in-place leading ReLU rectifies the skip path too
(relu(x) + block(x)), a ReLU after the residual stack, and a ReLU after every transposed
decoder convolution but the last.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from tsvq.model.patchconv import run_flat
from tsvq.model.vqvae import VQVAE, ModelConfig


def _convs(module: nn.Module) -> list[nn.Module]:
    return [m for m in module.modules() if isinstance(m, nn.Conv1d | nn.ConvTranspose1d)]


def _stack(x: torch.Tensor, convs: list[nn.Module], n_layers: int) -> torch.Tensor:
    for i in range(n_layers):
        c3, c1 = convs[2 * i], convs[2 * i + 1]
        h = F.conv1d(F.relu(x), c3.weight, None, padding=1)
        h = F.conv1d(F.relu(h), c1.weight, None)
        x = F.relu(x) + h
    return F.relu(x)


def reference_encoder(model: VQVAE, x: torch.Tensor) -> torch.Tensor:
    """[N, patch] -> [N, D, L], as TOTEM's Encoder.forward."""
    cfg = model.cfg
    convs = _convs(model.encoder)
    n_strided = len(convs) - 2 - 2 * cfg.num_residual_layers
    h = x[:, None, :]
    for c in convs[:n_strided]:
        h = F.relu(F.conv1d(h, c.weight, c.bias, stride=c.stride, padding=c.padding))
    k3 = convs[n_strided]
    h = F.conv1d(h, k3.weight, k3.bias, padding=1)
    h = _stack(h, convs[n_strided + 1 : -1], cfg.num_residual_layers)
    pre = convs[-1]
    return F.conv1d(h, pre.weight, pre.bias)


def reference_decoder(model: VQVAE, z: torch.Tensor) -> torch.Tensor:
    """[N, D, L] -> [N, patch], as TOTEM's Decoder.forward (without its squeeze)."""
    cfg = model.cfg
    convs = _convs(model.decoder)
    first = convs[0]
    h = F.conv1d(z, first.weight, first.bias, padding=1)
    n_res = 2 * cfg.num_residual_layers
    h = _stack(h, convs[1 : 1 + n_res], cfg.num_residual_layers)
    trans = convs[1 + n_res :]
    for i, c in enumerate(trans):
        h = F.conv_transpose1d(h, c.weight, c.bias, stride=c.stride, padding=c.padding)
        if i < len(trans) - 1:
            h = F.relu(h)
    return h[:, 0, :]


@pytest.mark.parametrize(
    ("factor", "patch", "layers"),
    [(4, 16, 2), (8, 16, 2), (12, 24, 2), (16, 16, 2), (4, 16, 0), (8, 16, 3), (24, 48, 1)],
)
def test_encoder_and_decoder_compute_totems_function(factor: int, patch: int, layers: int):
    torch.manual_seed(factor + layers)
    cfg = ModelConfig(
        context_points=patch * 2,
        patch_size=patch,
        compression_factor=factor,
        num_residual_layers=layers,
    )
    model = VQVAE(cfg).double().eval()  # float64: compare functions, not rounding
    with torch.no_grad():  # biases start at zero-ish scale; make every term matter
        for p in model.parameters():
            p.normal_(0.0, 0.3)
    x = torch.randn(37, patch, dtype=torch.float64)
    with torch.no_grad():
        want_z = reference_encoder(model, x)
        torch.testing.assert_close(model.encoder(x[:, None, :]), want_z, atol=1e-5, rtol=1e-5)
        flat = run_flat(model.encoder, x)  # position-major [N, L*D]
        torch.testing.assert_close(
            flat.view(37, -1, cfg.embedding_dim).transpose(1, 2), want_z, atol=1e-5, rtol=1e-5
        )
        want_x = reference_decoder(model, want_z)
        torch.testing.assert_close(model.decoder(want_z)[:, 0, :], want_x, atol=1e-5, rtol=1e-5)
        got = run_flat(model.decoder, want_z.transpose(1, 2).reshape(37, -1))
        torch.testing.assert_close(got, want_x, atol=1e-5, rtol=1e-5)
