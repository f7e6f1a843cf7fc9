"""model.segment_start: the network starts as the raw-segment codebook, TOTEM's function kept."""

from __future__ import annotations

import pytest
import torch

from tsvq.model.revin import normalize
from tsvq.model.segment_start import segment_start, segment_start_fits
from tsvq.model.vqvae import VQVAE, ModelConfig

FACTORS = [(4, 16), (8, 16), (16, 16), (12, 24), (24, 48)]


@pytest.mark.parametrize(("factor", "patch"), FACTORS)
def test_encoder_outputs_are_the_segments_and_the_decoder_gives_them_back(factor, patch):
    cfg = ModelConfig(context_points=patch * 4, patch_size=patch, compression_factor=factor)
    model = VQVAE(cfg)
    segment_start(model)
    x = 3 * torch.randn(5, cfg.context_points) + 1
    with torch.no_grad():
        z = model.latents(x)  # [5 * n_tokens, D]
    segments = normalize(x)[0].reshape(-1, factor)  # raw segments in RevIN space
    torch.testing.assert_close(z[:, :factor], segments, rtol=0, atol=1e-5)
    assert float(z[:, factor:].abs().max()) == 0.0
    # the codebook holding exactly these vectors: the model reconstructs the input exactly
    model.quantizer.codebook.data = z.detach().clone()
    model.quantizer.needs_init = False
    model.eval()
    out = model(x)
    torch.testing.assert_close(out.recon, out.target, rtol=0, atol=1e-5)


def test_only_weights_change_and_the_free_channels_stay_random():
    """The same state dict keys and shapes (TOTEM's class still loads it); the channels the
    pairs do not use keep their random start, and what feeds the path from them is 0."""
    torch.manual_seed(0)
    plain = VQVAE(ModelConfig(context_points=64))
    torch.manual_seed(0)
    started = VQVAE(ModelConfig(context_points=64))
    segment_start(started)
    a, b = plain.state_dict(), started.state_dict()
    assert a.keys() == b.keys() and all(a[k].shape == b[k].shape for k in a)
    first = started.encoder[0].weight.detach()  # [32, 1, 4]: channels 0..7 carry 4 values as pairs
    assert torch.equal(first[8:], plain.encoder[0].weight[8:])  # free channels untouched
    project = started.encoder[-1].weight.detach()  # [32, 64, 1]: reads the pairs only
    assert float(project[:, 8:].abs().max()) == 0.0 and float(project[4:].abs().max()) == 0.0
    for stack in (started.encoder[5], started.decoder[1]):  # each block starts as relu(x) + 0
        assert all(float(block[-1].weight.detach().abs().max()) == 0.0 for block in stack.blocks)


@pytest.mark.parametrize(
    ("changes", "fits"),
    [
        ({}, True),
        ({"embedding_dim": 3}, False),  # 4 values per token need 4 dimensions
        ({"embedding_dim": 4}, True),
        ({"block_hidden_size": 6}, False),  # 2 x 4 channels in the hidden layers
        ({"block_hidden_size": 8}, True),
        ({"compression_factor": 16, "block_hidden_size": 30}, False),
    ],
)
def test_where_the_widths_cannot_hold_the_pairs(changes: dict, fits: bool):
    cfg = ModelConfig(context_points=64, **changes)
    assert segment_start_fits(cfg) is fits
    model = VQVAE(cfg)
    if fits:
        segment_start(model)
    else:
        with pytest.raises(ValueError, match="segment_start needs embedding_dim"):
            segment_start(model)
