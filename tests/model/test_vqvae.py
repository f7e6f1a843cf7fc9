"""The TOTEM-shaped model: parameter counts, shapes per compression factor, encode/decode."""

from __future__ import annotations

import pytest
import torch

from tsvq.model.revin import denormalize
from tsvq.model.vqvae import VQVAE, ModelConfig, stage_strides


@pytest.mark.parametrize(
    ("factor", "patch", "params"),
    [(4, 16, 78_369), (8, 16, 111_265), (16, 16, 144_161), (12, 24, 115_361)],
)
def test_parameter_counts_and_shapes(factor: int, patch: int, params: int):
    cfg = ModelConfig(context_points=patch * 8, patch_size=patch, compression_factor=factor)
    model = VQVAE(cfg)
    assert model.num_parameters() == params
    x = torch.randn(3, cfg.context_points)
    out = model(x)
    assert out.recon.shape == (3, cfg.context_points)
    assert out.codes.shape == (3, cfg.context_points // factor)


def test_batch_of_one_keeps_its_axis():
    model = VQVAE(ModelConfig(context_points=32))
    assert model(torch.randn(1, 32)).recon.shape == (1, 32)


@pytest.mark.parametrize(
    ("factor", "patch", "message"),
    [
        (12, 16, "compression_factor=12 needs patch_size divisible by 12, got 16"),
        (6, 12, "compression_factor=6 cannot be built"),
        (20, 40, "compression_factor=20 cannot be built"),
        (32, 16, "needs patch_size divisible by 32"),
    ],
)
def test_unbuildable_factors_are_rejected(factor: int, patch: int, message: str):
    with pytest.raises(ValueError, match=message):
        VQVAE(ModelConfig(context_points=patch * 4, patch_size=patch, compression_factor=factor))


def test_stage_strides():
    assert stage_strides(4, 16) == [2, 2]
    assert stage_strides(12, 24) == [2, 2, 3]
    assert stage_strides(16, 16) == [2, 2, 2, 2]


def test_context_must_be_whole_patches():
    with pytest.raises(ValueError, match="patch_size=16 must divide context_points=100"):
        VQVAE(ModelConfig(context_points=100))


def test_encode_decode_agree_with_forward():
    torch.manual_seed(0)
    model = VQVAE(ModelConfig(context_points=64, revin=True)).eval()
    x = torch.randn(5, 64) * 2 + 1
    with torch.no_grad():
        out = model(x)
        codes, stats = model.encode(x)
        back = model.decode(codes, stats)
    torch.testing.assert_close(codes, out.codes)
    torch.testing.assert_close(back, denormalize(out.recon, stats), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("factor", [4, 8, 12])
def test_the_skeleton_has_the_models_state_and_allocates_nothing(factor: int):
    """What a file's tensors are checked against before any is loaded: the same names, shapes
    and dtypes as the built model, on the meta device; a size no memory holds costs nothing."""
    cfg = ModelConfig(context_points=96, patch_size=24, compression_factor=factor)
    real, skeleton = VQVAE(cfg).state_dict(), VQVAE.skeleton(cfg).state_dict()
    assert list(skeleton) == list(real)
    for name, t in skeleton.items():
        assert t.is_meta and (t.shape, t.dtype) == (real[name].shape, real[name].dtype), name
    huge = VQVAE.skeleton(ModelConfig(context_points=96, num_embeddings=10**9))
    assert huge.quantizer.codebook.shape == (10**9, 32) and huge.quantizer.codebook.is_meta


def test_a_trained_model_takes_its_state_and_keeps_what_a_file_lacks():
    cfg = ModelConfig(context_points=32, quantizer="vq", codebook_init="uniform")
    torch.manual_seed(0)
    source = VQVAE(cfg)
    state = {k: v for k, v in source.state_dict().items() if not k.startswith("quantizer.")}
    state["quantizer.codebook"] = source.state_dict()["quantizer.codebook"]
    model = VQVAE.trained(cfg, state)
    assert not model.training
    for name, value in state.items():
        assert torch.equal(model.state_dict()[name], value), name
    assert int(model.quantizer.step) == 0  # a buffer the state lacked keeps its initial value
