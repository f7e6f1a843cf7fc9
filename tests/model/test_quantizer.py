"""The vector quantizer: nearest code, losses, straight-through gradient, codebook health."""

from __future__ import annotations

import math

import pytest
import torch

from tsvq.model.quantizer import (
    GRADIENTS,
    VectorQuantizer,
    perplexity_of,
    rotation_trick,
    rotation_unscaled,
    straight_through,
)


def _z(n: int = 64, d: int = 8, length: int = 4, seed: int = 0) -> torch.Tensor:
    return torch.randn(n, d, length, generator=torch.Generator().manual_seed(seed))


def test_nearest_code_and_losses_match_the_definitions():
    vq = VectorQuantizer(16, 8, 0.25, quantizer="vq", codebook_init="uniform")
    vq.codebook.data = torch.randn(16, 8)
    z = _z().requires_grad_(True)
    out = vq(z)
    flat = z.detach().permute(0, 2, 1).reshape(-1, 8)
    brute = torch.cdist(flat, vq.codebook.detach()).argmin(1)
    torch.testing.assert_close(out.codes.reshape(-1), brute)
    q = vq.codebook.detach()[brute]
    mse = ((q - flat) ** 2).mean()
    torch.testing.assert_close(out.loss, mse + 0.25 * mse)
    torch.testing.assert_close(out.quantized.detach().permute(0, 2, 1).reshape(-1, 8), q)


def test_nearest_takes_the_first_of_equally_near_codes_as_argmin_does():
    # duplicated codes and rows exactly between two codes: the original's argmin picks the
    # lowest index; so must the faster reduction nearest uses
    vq = VectorQuantizer(6, 2, 0.25, quantizer="vq", codebook_init="uniform")
    vq.codebook.data = torch.tensor([[1.0, 0], [0, 1], [1, 0], [-1, 0], [0, 1], [0, -1]])
    flat = torch.tensor([[1.0, 0], [0, 1], [0.5, 0.5], [0, 0], [-1, 0], [0.0, -3]])
    brute = ((flat[:, None, :] - vq.codebook.detach()[None]) ** 2).sum(-1).argmin(1)
    assert vq.nearest(flat).tolist() == brute.tolist() == [0, 1, 0, 0, 3, 5]


def test_straight_through_gradient_reaches_the_encoder_and_codebook():
    vq = VectorQuantizer(16, 8, 0.25, quantizer="vq", codebook_init="uniform")
    z = _z().requires_grad_(True)
    out = vq(z)
    (out.quantized.sum() + out.loss).backward()
    assert z.grad is not None and z.grad.abs().sum() > 0
    assert vq.codebook.grad is not None and vq.codebook.grad.abs().sum() > 0


def test_perplexity():
    assert float(perplexity_of(torch.tensor([5.0, 5.0, 5.0, 5.0]))) == pytest.approx(4.0)
    assert float(perplexity_of(torch.tensor([7.0, 0.0, 0.0]))) == pytest.approx(1.0)


def test_kmeans_init_uses_the_codebook_the_uniform_init_collapses():
    # Encoder outputs far from the tiny uniform(+-1/K) start: the original picks one code.
    z = _z(d=8) * 0.3 + 5
    torch.manual_seed(0)  # the uniform start draws from the global generator: fix it
    orig = VectorQuantizer(64, 8, 0.25, quantizer="vq", codebook_init="uniform").train()
    assert int((orig(z).counts > 0).sum()) <= 4  # a handful of 64 (1-5 over 200 seeds)
    healthy = VectorQuantizer(64, 8, 0.25, quantizer="vq", codebook_init="kmeans").train()
    out = healthy(z)
    assert bool(healthy.initialized)
    assert int((out.counts > 0).sum()) >= 48


@pytest.mark.parametrize("quantizer", ["vq", "ema"])
def test_dead_codes_are_restarted_from_encoder_outputs(quantizer: str):
    vq = VectorQuantizer(
        32, 8, 0.25, quantizer=quantizer, codebook_init="uniform", dead_code_restart=2
    ).train()
    vq.codebook.data[1:] += 100.0  # all but code 0 unreachable: 31 dead codes
    if quantizer == "ema":
        vq.ema_sum.copy_(vq.codebook.data)
    z = _z()
    vq(z)
    vq(z)  # step 2: the check runs and re-seeds every unused code
    assert int(vq.restarts) >= 30
    flat = z.permute(0, 2, 1).reshape(-1, 8)
    # each re-seeded code is one of the encoder outputs
    assert torch.cdist(vq.codebook.data[1:], flat).min(dim=1).values.max() < 1e-2
    assert int((vq(z).counts > 0).sum()) > 16


@pytest.mark.parametrize(("threshold", "restarted"), [(0.0, False), (0.5, True)])
def test_rarely_used_codes_are_restarted_under_the_threshold(threshold: float, restarted: bool):
    vq = VectorQuantizer(
        2,
        2,
        0.25,
        quantizer="vq",
        codebook_init="uniform",
        dead_code_restart=1,
        dead_code_threshold=threshold,
    ).train()
    vq.codebook.data = torch.tensor([[0.0, 0.0], [10.0, 10.0]])
    # 63 vectors near code 0, one near code 1: code 1 has 1/32 of an even share
    z = torch.cat([torch.full((63, 2, 1), 0.1), torch.full((1, 2, 1), 9.0)])
    vq(z)
    assert int(vq.restarts) == int(restarted)
    moved = not torch.equal(vq.codebook.data[1], torch.tensor([10.0, 10.0]))
    assert moved == restarted
    assert torch.equal(vq.codebook.data[0], torch.zeros(2))  # a busy code is never re-seeded


def test_ema_moves_codes_to_the_mean_of_their_vectors():
    vq = VectorQuantizer(
        4, 2, 0.25, quantizer="ema", codebook_init="uniform", ema_decay=0.5
    ).train()
    assert not vq.codebook.requires_grad
    z = torch.full((10, 2, 1), 3.0)
    for _ in range(30):
        vq(z)
    assert torch.cdist(vq.codebook.data, torch.tensor([[3.0, 3.0]])).min() < 1e-3


def test_eval_mode_never_changes_the_codebook():
    vq = VectorQuantizer(16, 8, 0.25, quantizer="ema", dead_code_restart=1).eval()
    before = vq.codebook.detach().clone()
    vq(_z())
    torch.testing.assert_close(vq.codebook.detach(), before)
    assert not bool(vq.initialized)


def test_invalid_options_are_rejected():
    with pytest.raises(ValueError, match="quantizer='x'"):
        VectorQuantizer(4, 2, 0.25, quantizer="x")
    with pytest.raises(ValueError, match="ema_decay"):
        VectorQuantizer(4, 2, 0.25, ema_decay=1.0)
    with pytest.raises(ValueError, match="dead_code_threshold"):
        VectorQuantizer(4, 2, 0.25, dead_code_threshold=1.0)
    assert math.isfinite(VectorQuantizer(4, 2, 0.0)(_z(d=2)).loss.item())


def _rotation_reference(z: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    """Per row, the matrix (|q|/|z|) (I - 2 r r^T + 2 u e^T) of Fifty et al. (2024), float64."""
    z, q = z.double(), q.double()
    e = z / z.norm(dim=1, keepdim=True)
    u = q / q.norm(dim=1, keepdim=True)
    r = (e + u) / (e + u).norm(dim=1, keepdim=True)
    eye = torch.eye(z.shape[1], dtype=torch.float64)
    rot = eye - 2 * r[:, :, None] * r[:, None, :] + 2 * u[:, :, None] * e[:, None, :]
    return (q.norm(dim=1) / z.norm(dim=1))[:, None, None] * rot


@pytest.mark.parametrize("estimator", [straight_through, rotation_trick, rotation_unscaled])
def test_estimators_return_exactly_the_code_vectors(estimator):
    g = torch.Generator().manual_seed(3)
    z = (torch.randn(500, 32, generator=g) * 7).requires_grad_(True)
    q = torch.randn(500, 32, generator=g) * 0.3
    out = estimator(z, q)
    assert out.dtype == torch.float32 and torch.equal(out.detach(), q)


def test_balanced_is_straight_through_plus_the_commitment_at_the_reconstructions_weight():
    """The same values (codes, vectors, loss) as `ste`; the encoder's gradient differs by
    2 (z - q) / m per element, the gradient of sum (z - q)^2 over the m patches."""
    grads, outs = {}, {}
    for g in ("ste", "balanced"):
        vq = VectorQuantizer(16, 8, 0.25, quantizer="vq", codebook_init="uniform", gradient=g)
        vq.codebook.data = torch.randn(16, 8, generator=torch.Generator().manual_seed(3))
        z = _z().requires_grad_(True)
        out = vq(z)
        w = torch.randn(out.quantized.shape, generator=torch.Generator().manual_seed(4))
        ((out.quantized * w).sum() + out.loss).backward()
        grads[g], outs[g] = z.grad, out
    assert torch.equal(outs["ste"].loss, outs["balanced"].loss)  # logged units unchanged
    assert torch.equal(outs["ste"].quantized, outs["balanced"].quantized)
    q = outs["ste"].quantized.detach()
    expected = grads["ste"] + 2 * (_z() - q) / _z().shape[0]
    torch.testing.assert_close(grads["balanced"], expected)


def test_rotation_gradient_matches_the_formula():
    g = torch.Generator().manual_seed(4)
    z = (torch.randn(300, 16, generator=g) * 3).requires_grad_(True)
    q = torch.randn(300, 16, generator=g)
    upstream = torch.randn(300, 16, generator=g)
    (rotation_trick(z, q) * upstream).sum().backward()
    m = _rotation_reference(z.detach(), q)  # output = m @ z, m held constant
    want = torch.einsum("nij,ni->nj", m, upstream.double())  # m^T g
    torch.testing.assert_close(z.grad.double(), want, rtol=1e-4, atol=1e-5)
    # and m really carries z onto q: the map is the one the gradient is taken through
    torch.testing.assert_close(
        torch.einsum("nij,nj->ni", m, z.detach().double()), q.double(), rtol=1e-4, atol=1e-5
    )
    # not the straight-through gradient: the rotation changes direction and length
    assert not torch.allclose(z.grad, upstream, atol=1e-2)


def test_unscaled_rotation_hands_on_a_gradient_as_long_as_the_decoders():
    g = torch.Generator().manual_seed(5)
    z = (torch.randn(200, 16, generator=g) * 0.2).requires_grad_(True)
    q = torch.randn(200, 16, generator=g) * 5
    upstream = torch.randn(200, 16, generator=g)
    (rotation_unscaled(z, q) * upstream).sum().backward()
    m = _rotation_reference(z.detach(), q)
    m = m / (q.norm(dim=1) / z.detach().norm(dim=1)).double()[:, None, None]  # R alone
    want = torch.einsum("nij,ni->nj", m, upstream.double())
    torch.testing.assert_close(z.grad.double(), want, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(z.grad.norm(dim=1), upstream.norm(dim=1))


def test_rotation_is_safe_for_zero_and_opposite_vectors():
    z = torch.tensor(
        [[0.0, 0.0, 0.0], [1.0, 2.0, 3.0], [1e-9, 0.0, 0.0], [2.0, 0.0, 0.0]], requires_grad=True
    )
    q = torch.tensor([[1.0, 0.0, 0.0], [0.0, 0.0, 0.0], [0.0, 1.0, 0.0], [-3.0, 0.0, 0.0]])
    upstream = torch.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0], [7.0, 8.0, 9.0], [1.0, 1.0, 0.0]])
    out = rotation_trick(z, q)
    (out * upstream).sum().backward()
    assert torch.equal(out.detach(), q)
    assert torch.isfinite(z.grad).all()
    # rows with no direction (zero or tiny z, zero q): the straight-through gradient
    torch.testing.assert_close(z.grad[:3], upstream[:3])
    # z opposite q: r = 0, the reflection I - 2 u u^T mapping z/|z| onto u, scaled by 3/2
    torch.testing.assert_close(z.grad[3], torch.tensor([-1.5, 1.5, 0.0]))


def test_rotation_gradient_is_fp32_under_bf16_autocast():
    vq = VectorQuantizer(16, 8, 0.25, quantizer="vq", gradient="rotation")  # no EMA step
    z = _z().to(torch.bfloat16).requires_grad_(True)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = vq(z)
    assert out.quantized.dtype == torch.float32
    assert torch.equal(out.quantized.detach(), vq.codebook.detach()[out.codes].transpose(1, 2))
    out.quantized.sum().backward()
    assert z.grad is not None and torch.isfinite(z.grad).all() and z.grad.abs().sum() > 0


def test_gradient_choice_adds_nothing_to_the_state_dict():
    states = [VectorQuantizer(16, 8, 0.25, gradient=g).state_dict() for g in GRADIENTS]
    assert all(s.keys() == states[0].keys() for s in states)
    assert all(s[k].shape == states[0][k].shape for s in states for k in s)
    with pytest.raises(ValueError, match="gradient='ltr' is not one of ste, balanced, rotation"):
        VectorQuantizer(16, 8, 0.25, gradient="ltr")
