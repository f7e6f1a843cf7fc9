"""Eager training step before and after the host-read-free quantizer, side by side.

    PYTHONPATH=src python benchmarks/quantizer_step.py [--ref main] [--steps 20] [--rounds 5]

"before" is `src/tsvq/model/quantizer.py` (before 0.2: `src/tsvq/quantizer.py`) as of git
`--ref`, "after" the working tree's. Both train
the same VQVAE (the specification's defaults: context 512, patch 16, batch 64, EMA codebook,
dead-code restart every 50 steps, here every 5 so the restart path runs in the timing) with the
quantizer swapped, one full step each (forward, backward, AdamW). Rounds alternate so a shared
machine's drift affects both alike; the median step times and their ratio are printed.
"""

from __future__ import annotations

import argparse
import importlib
import statistics
import subprocess
import sys
import time
import types
from pathlib import Path

import torch

from tsvq.model.vqvae import VQVAE, ModelConfig
from tsvq.train.loop import losses


def quantizer_module_at(ref: str) -> types.ModuleType:
    """The quantizer's source at git `ref`, loaded as a module of the tsvq package."""
    root = Path(__file__).resolve().parents[1]
    for where in ("model/quantizer.py", "quantizer.py"):
        shown = subprocess.run(
            ["git", "-C", str(root), "show", f"{ref}:src/tsvq/{where}"],
            capture_output=True,
            text=True,
        )
        if shown.returncode == 0:
            package = "tsvq.model" if "/" in where else "tsvq"
            break
    else:
        raise SystemExit(f"no quantizer source at git ref {ref}")
    src = shown.stdout
    # a flat-layout source (before 0.2) imports `.distributed` relative to tsvq itself
    sys.modules.setdefault("tsvq.distributed", importlib.import_module("tsvq.runtime.distributed"))
    mod = types.ModuleType("quantizer_before")
    mod.__package__ = package
    sys.modules[mod.__name__] = mod
    exec(compile(src, f"{ref}:quantizer.py", "exec"), mod.__dict__)
    return mod


def build(cfg: ModelConfig, quantizer_cls: type | None) -> VQVAE:
    torch.manual_seed(0)
    model = VQVAE(cfg)
    if quantizer_cls is not None:
        q = model.quantizer
        model.quantizer = quantizer_cls(
            cfg.num_embeddings,
            cfg.embedding_dim,
            cfg.commitment_cost,
            quantizer=cfg.quantizer,
            codebook_init=cfg.codebook_init,
            dead_code_restart=cfg.dead_code_restart,
            ema_decay=cfg.ema_decay,
            seed=cfg.seed,
        )
        model.quantizer.load_state_dict(q.state_dict())
    return model.train()


def time_steps(model: VQVAE, batches: list[torch.Tensor]) -> float:
    """Median seconds per full training step over `batches`."""
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)
    times = []
    for x in batches:
        t0 = time.perf_counter()
        recon, vq, _ = losses(model, x)
        opt.zero_grad(set_to_none=True)
        (recon + vq).backward()
        opt.step()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ref", default="main")
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    cfg = ModelConfig(context_points=512, dead_code_restart=5)
    g = torch.Generator().manual_seed(0)
    t = torch.arange(512, dtype=torch.float32)
    batches = [
        torch.sin(t / 7 + torch.rand(64, 1, generator=g) * 6.3)
        + 0.1 * torch.randn(64, 512, generator=g)
        for _ in range(args.steps)
    ]
    before_cls = quantizer_module_at(args.ref).VectorQuantizer
    models = {"before": build(cfg, before_cls), "after": build(cfg, None)}
    for m in models.values():
        m(batches[0])  # k-means initialisation, outside the timing
    med: dict[str, list[float]] = {k: [] for k in models}
    for r in range(args.rounds):
        for name in ("before", "after") if r % 2 == 0 else ("after", "before"):
            med[name].append(time_steps(models[name], batches))
    b, a = statistics.median(med["before"]), statistics.median(med["after"])
    print(f"threads={torch.get_num_threads()} ref={args.ref}")
    print(
        f"eager step, median of {args.rounds} rounds x {args.steps} steps: "
        f"before {b * 1e3:.1f} ms, after {a * 1e3:.1f} ms, after/before = {a / b:.3f}"
    )
    ratios = [x / y for x, y in zip(med["after"], med["before"], strict=True)]
    print("per-round after/before: " + " ".join(f"{x:.3f}" for x in ratios))


if __name__ == "__main__":
    main()
