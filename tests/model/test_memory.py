"""tsvq.memory: the estimate walks the layers the model really builds, and counts at least the
weights, gradients and AdamW moments. (Configurations refused for their size, as the command
line says it: the "numbers at extremes" rows of tests/robustness/test_bad_input.py.)"""

from __future__ import annotations

import pytest
import torch

from tsvq.model.memory import _conv_layers, training_bytes
from tsvq.model.vqvae import VQVAE, ModelConfig

CONFIGS = {
    "defaults": {},
    "cf 8": {"compression_factor": 8},
    "cf 12, patch 24": {"compression_factor": 12, "patch_size": 24, "context_points": 96},
    "cf 16, 3 residual layers": {"compression_factor": 16, "num_residual_layers": 3},
    "small widths": {"block_hidden_size": 32, "res_hidden_size": 16, "embedding_dim": 8},
}


def _model_convs(cfg: ModelConfig) -> list[tuple[int, int, int, int, int]]:
    """(c_in, c_out, kernel, L_in, L_out) of every convolution, seen running one patch."""
    model = VQVAE(cfg)
    seen: list[tuple[int, int, int, int, int]] = []

    def hook(mod: torch.nn.Module, inp: tuple[torch.Tensor, ...], out: torch.Tensor) -> None:
        seen.append(
            (mod.in_channels, mod.out_channels, mod.kernel_size[0], inp[0].shape[-1], out.shape[-1])
        )

    for mod in model.modules():
        if hasattr(mod, "kernel_size"):
            mod.register_forward_hook(hook)
    with torch.no_grad():
        z = model.encoder(torch.randn(1, 1, cfg.patch_size))  # [1, D, tokens_per_patch]
        model.decoder(z)
    return seen


@pytest.mark.parametrize("name", list(CONFIGS))
def test_the_layer_walk_is_the_model(name: str) -> None:
    cfg = ModelConfig(**CONFIGS[name])
    assert _conv_layers(cfg) == _model_convs(cfg)


@pytest.mark.parametrize("name", list(CONFIGS))
def test_the_estimate_holds_the_optimizer_state_and_grows_with_the_batch(name: str) -> None:
    cfg = ModelConfig(**CONFIGS[name])
    params = VQVAE(cfg).num_parameters()
    train = training_bytes(cfg, 64)
    assert train >= 4 * 4 * params  # fp32 weight, gradient, two AdamW moments
    assert training_bytes(cfg, 64, training=False) < train < training_bytes(cfg, 128)


def test_an_absurd_number_of_residual_layers_is_estimated_not_listed() -> None:
    """A file may carry num_residual_layers=2**40: the estimate counts the blocks (before, it
    listed 2**42 layers and ran out of memory itself)."""
    cfg = ModelConfig(num_residual_layers=2**40)
    assert training_bytes(cfg, 1, training=False) > 2**40 * 4 * 32 * 64 * 3
