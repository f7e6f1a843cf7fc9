"""The training step compiles to one graph (no host read decides anything) and equals eager.

The one-off k-means initialisation reads the data on the host and runs eagerly on the first
batch, before the compiled step: that is the only part kept out of the graph.
"""

from __future__ import annotations

import copy

import torch

from tsvq.model.vqvae import VQVAE, ModelConfig
from tsvq.train.loop import losses

# Tiny on purpose: compiling on the CPU costs tens of seconds whatever the size.
CFG = ModelConfig(
    context_points=32,
    patch_size=16,
    embedding_dim=8,
    num_embeddings=16,
    block_hidden_size=8,
    num_residual_layers=1,
    res_hidden_size=8,
    quantizer="ema",
    dead_code_restart=2,
    # a code used at most half an even share counts as dead: under the default gradient
    # (balanced) no code dies outright within these few steps, and restarts must be exercised
    dead_code_threshold=0.5,
    seed=3,
)


def _batch(i: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(i)
    t = torch.arange(CFG.context_points, dtype=torch.float32)
    phase = torch.rand(16, 1, generator=g) * 6.3
    return torch.sin(t / 3 + phase) + 0.1 * torch.randn(16, CFG.context_points, generator=g)


def _train_step(step_fn, model: VQVAE, opt: torch.optim.Optimizer, x: torch.Tensor):
    recon, vq, out = step_fn(x)
    loss = recon + vq
    opt.zero_grad(set_to_none=True)
    loss.backward()
    grads = [p.grad.clone() for p in model.parameters() if p.grad is not None]
    opt.step()
    return loss.detach(), out.codes, out.perplexity.detach(), grads


def test_compiled_training_step_equals_eager():
    torch._dynamo.reset()
    eager = VQVAE(CFG).train()
    eager(_batch(0))  # the one-off k-means initialisation, eagerly, before any compiled step
    assert not eager.quantizer.needs_init
    twin = copy.deepcopy(eager)
    opts = [
        torch.optim.SGD([p for p in m.parameters() if p.requires_grad], lr=0.05)
        for m in (eager, twin)
    ]
    compiled = torch.compile(lambda x: losses(twin, x), fullgraph=True, dynamic=False)
    for i in range(1, 5):  # quantizer steps 2..5: restart checks at 2 and 4
        x = _batch(i)
        a = _train_step(lambda x: losses(eager, x), eager, opts[0], x)
        b = _train_step(compiled, twin, opts[1], x)
        torch.testing.assert_close(a[0], b[0], rtol=1e-5, atol=1e-6)
        assert torch.equal(a[1], b[1]), f"codes differ at step {i}"
        torch.testing.assert_close(a[2], b[2], rtol=1e-5, atol=1e-6)
        for ga, gb in zip(a[3], b[3], strict=True):
            torch.testing.assert_close(ga, gb, rtol=1e-4, atol=1e-6)
    for (name, va), (_, vb) in zip(
        eager.state_dict().items(), twin.state_dict().items(), strict=True
    ):
        torch.testing.assert_close(va, vb, rtol=1e-4, atol=1e-6, msg=name)
    assert int(eager.quantizer.step) == 5
    assert int(eager.quantizer.restarts) > 0, "the restart path was not exercised"
