"""The banded matrix-product path equals PyTorch's convolutions, values and gradients."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from tsvq.model import patchconv
from tsvq.model.patchconv import PatchConv1d, PatchConvTranspose1d, run_flat
from tsvq.model.vqvae import VQVAE, ModelConfig


@pytest.fixture(autouse=True, params=[True, False], ids=["bands", "dense"])
def cpu_path(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> bool:
    """Every test on both CPU paths: banded runs and one dense product per layer (a machine
    picks one by its CPU; both must be the same convolution)."""
    monkeypatch.setattr(patchconv, "CPU_BANDS", request.param)
    return request.param


def _flat(x: torch.Tensor) -> torch.Tensor:
    return x.transpose(1, 2).reshape(x.shape[0], -1)  # [N, C, L] -> [N, L*C]


@pytest.mark.parametrize(
    ("transposed", "c_in", "c_out", "kernel", "stride", "padding", "length", "bias"),
    [
        (False, 1, 32, 4, 2, 1, 16, True),  # the encoder's first stage
        (False, 32, 64, 4, 2, 1, 8, True),
        (False, 64, 64, 3, 1, 1, 4, True),
        (False, 64, 32, 3, 1, 1, 4, False),  # residual block
        (False, 32, 64, 1, 1, 0, 4, False),  # pointwise
        (False, 64, 64, 4, 3, 1, 6, True),  # stride-3 stage
        (False, 5, 7, 5, 2, 2, 11, True),  # odd sizes
        (False, 3, 4, 3, 1, 0, 3, True),  # no padding
        (True, 64, 32, 4, 2, 1, 4, True),  # the decoder's stages
        (True, 32, 1, 4, 2, 1, 8, True),
        (True, 64, 64, 5, 3, 1, 2, True),
        (True, 6, 5, 7, 2, 3, 5, False),
    ],
)
def test_layer_matches_torch(transposed, c_in, c_out, kernel, stride, padding, length, bias):
    torch.manual_seed(0)
    cls = PatchConvTranspose1d if transposed else PatchConv1d
    layer = cls(c_in, c_out, kernel, length=length, stride=stride, padding=padding, bias=bias)
    x = torch.randn(9, c_in, length, dtype=torch.float64, requires_grad=True)
    layer = layer.double()
    ref = layer(x)  # PyTorch's own convolution
    assert ref.shape[-1] == layer.length_out
    x_flat = _flat(x.detach()).requires_grad_(True)
    out = layer.flat_forward(x_flat)
    torch.testing.assert_close(out, _flat(ref))
    g = torch.randn_like(ref)
    ref_grads = torch.autograd.grad(ref, [x, *layer.parameters()], g)
    grads = torch.autograd.grad(out, [x_flat, *layer.parameters()], _flat(g))
    torch.testing.assert_close(grads[0], _flat(ref_grads[0]))
    for a, b in zip(grads[1:], ref_grads[1:], strict=True):
        torch.testing.assert_close(a, b)


@pytest.mark.parametrize(("factor", "patch"), [(4, 16), (8, 16), (16, 16), (12, 24), (4, 32)])
def test_model_matches_torch_convolutions(factor: int, patch: int):
    """Encoder and decoder on the fast path agree with nn.Conv1d to fp32 tolerance."""
    torch.manual_seed(0)
    model = VQVAE(
        ModelConfig(context_points=patch * 4, patch_size=patch, compression_factor=factor)
    )
    x = torch.randn(64, patch)
    ref = model.decoder(model.encoder(x.view(-1, 1, patch))).reshape(64, patch)
    ref.square().sum().backward()
    ref_grads = [p.grad.clone() for p in model.parameters() if p.grad is not None]
    model.zero_grad()
    out = run_flat(model.decoder, run_flat(model.encoder, x))
    torch.testing.assert_close(out, ref, atol=1e-5, rtol=1e-5)
    out.square().sum().backward()
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    for a, b in zip(grads, ref_grads, strict=True):
        torch.testing.assert_close(a, b, atol=1e-4, rtol=1e-4)


def test_bf16_autocast_stays_close_to_fp32():
    torch.manual_seed(0)
    model = VQVAE(ModelConfig(context_points=64))
    x = torch.randn(32, 16)
    ref = run_flat(model.decoder, run_flat(model.encoder, x))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = run_flat(model.decoder, run_flat(model.encoder, x))
    assert out.dtype == torch.bfloat16
    assert (out.float() - ref).abs().max() < 0.05 * ref.abs().max()


def test_state_dict_holds_parameters_only():
    """The tap tables are rebuilt from the configuration, never saved."""
    model = VQVAE(ModelConfig())
    state = model.state_dict()
    assert not any("taps" in k for k in state)
    convs = [m for m in model.modules() if isinstance(m, nn.Conv1d | nn.ConvTranspose1d)]
    assert sum(p.numel() for m in convs for p in m.parameters()) + 256 * 32 == 78_369
    VQVAE(ModelConfig()).load_state_dict(state)  # strict


def test_the_two_paths_agree_in_bf16_training_step():
    """Banded runs and the dense product give the same bf16 forward and fp32 kernel gradients
    to bf16's rounding (the dense path multiplies the band's zeros too)."""
    torch.manual_seed(0)
    model = VQVAE(ModelConfig(context_points=64))
    x = torch.randn(32, 16)
    results = []
    for bands in (True, False):
        patchconv.CPU_BANDS = bands
        model.zero_grad()
        with torch.autocast("cpu", dtype=torch.bfloat16):
            out = run_flat(model.decoder, run_flat(model.encoder, x))
        out.float().square().sum().backward()
        results.append(
            (out.float(), [p.grad.clone() for p in model.parameters() if p.grad is not None])
        )
    (a, ga), (b, gb) = results
    torch.testing.assert_close(a, b, atol=2e-2, rtol=2e-2)
    assert len(ga) == len(gb) > 0
    for u, v in zip(ga, gb, strict=True):
        assert u.dtype == torch.float32
        torch.testing.assert_close(u, v, atol=5e-2 * float(v.abs().max()), rtol=5e-2)
