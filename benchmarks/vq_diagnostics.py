"""Quantizer diagnostics per epoch: latent and codebook scale, restarts, EMA counts, rescaling.

Trains through tsvq's own `train` (every flag as the CLI's defaults unless given) and, after
each epoch, measures on a fixed set of validation series: encoder-output norms, code-vector
norms, the rotation trick's rescaling |q|/|z|, the relative quantization error |z-q|/|z|,
codes in use, restarts so far, and how many EMA counts have decayed towards zero.

    TSVQ_DATA_DIR=../shared/data OMP_NUM_THREADS=1 python benchmarks/vq_diagnostics.py \
        --dset etth1 --epochs 10 --gradient rotation
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import torch

from tsvq import Tokenizer
from tsvq.config import TrainConfig
from tsvq.data.windows import DataSpec, load, series_batches
from tsvq.model.quantizer import perplexity_of, rotation_trick, straight_through
from tsvq.model.revin import normalize
from tsvq.model.vqvae import VQVAE, ModelConfig
from tsvq.report.evaluate import evaluate
from tsvq.run.record import RunPaths
from tsvq.train.loop import train

PROBE_SERIES = 4096


def quantiles(x: torch.Tensor) -> list[float]:
    q = torch.quantile(x.float(), torch.tensor([0.01, 0.5, 0.99]))
    return [round(float(v), 4) for v in q]


@torch.no_grad()
def probe(core: VQVAE, x: torch.Tensor) -> dict:
    core.eval()
    cfg = core.cfg
    xn = normalize(x)[0] if cfg.revin else x
    z = core.encoder(xn.reshape(-1, 1, cfg.patch_size))  # [N*n_patches, D, tokens_per_patch]
    z = z.transpose(1, 2).float().reshape(-1, cfg.embedding_dim)  # one row per token
    vq = core.quantizer
    codes = vq.nearest(z)
    q = vq.lookup(codes)
    zn, qn, cn = z.norm(dim=1), q.norm(dim=1), vq.codebook.norm(dim=1)
    out = {
        "z_norm_p1_p50_p99": quantiles(zn),
        "code_norm_p1_p50_p99": quantiles(cn),
        "scale_p1_p50_p99": quantiles(qn / zn.clamp_min(1e-6)),
        "rel_err_p50_p99": quantiles((z - q).norm(dim=1) / zn.clamp_min(1e-6))[1:],
        "codes_used": int(torch.unique(codes).numel()),
        "codes_under_1/16_share": int(
            (
                torch.bincount(codes, minlength=vq.num_embeddings)
                < codes.numel() / vq.num_embeddings / 16
            ).sum()
        ),
        "perplexity": round(float(perplexity_of(torch.bincount(codes).float())), 1),
        "restarts": int(vq.restarts),
        "cos_z_q_p1_p50": quantiles(torch.nn.functional.cosine_similarity(z, q))[:2],
    }
    if vq.ema:
        out["ema_count_lt_0.01"] = int((vq.ema_count < 0.01).sum())
        out["ema_count_max"] = round(float(vq.ema_count.max()), 3)
    return out


def capped(min_cos: float):
    """The rotation trick where z and q are within an angle, straight-through elsewhere."""

    def estimator(z: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
        near = torch.nn.functional.cosine_similarity(z.detach(), q.detach(), dim=-1) >= min_cos
        return torch.where(near[:, None], rotation_trick(z, q), straight_through(z, q))

    return estimator


def rotation_only(z: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    """The rotation trick without its rescaling: the gradient keeps its length."""
    rescaled = rotation_trick(z, q)  # value q; gradient (|q|/|z|) R^T g
    with torch.no_grad():
        ratio = (z.norm(dim=-1, keepdim=True) / q.norm(dim=-1, keepdim=True)).clamp(0, 1e6)
        ratio = torch.nan_to_num(ratio, nan=1.0)
    return q.detach() + (rescaled - q.detach()) * ratio  # value q; gradient R^T g


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dset", default="etth1")
    p.add_argument("--channel", type=int, default=None)
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--seed", type=int, default=2021)
    p.add_argument("--gradient", default="rotation")
    p.add_argument("--quantizer", default="ema")
    p.add_argument("--dead_code_restart", type=int, default=50)
    p.add_argument("--dead_code_threshold", type=float, default=0.0)
    p.add_argument("--commitment_cost", type=float, default=0.25)
    p.add_argument("--ema_decay", type=float, default=0.99)
    p.add_argument(
        "--rotation_min_cos",
        type=float,
        default=None,
        help="experimental: rotation only where cos(z, q) is at least this, "
        "straight-through elsewhere",
    )
    p.add_argument(
        "--no_rescale",
        action="store_true",
        help="experimental: the rotation without the |q|/|z| rescaling",
    )
    p.add_argument("--max_steps_per_epoch", type=int, default=None)
    p.add_argument("--out", default=None, help="JSON lines file for the per-epoch figures")
    args = p.parse_args()
    spec = DataSpec(args.dset, None, None, 512, channel=args.channel)
    data = load(spec)
    cfg = ModelConfig(
        quantizer=args.quantizer,
        commitment_cost=args.commitment_cost,
        gradient=args.gradient,
        ema_decay=args.ema_decay,
        dead_code_restart=args.dead_code_restart,
        dead_code_threshold=args.dead_code_threshold,
        seed=args.seed,
    )
    tcfg = TrainConfig(
        n_epochs=args.epochs, seed=args.seed, max_steps_per_epoch=args.max_steps_per_epoch
    )
    views = data.windows("val")
    order = torch.randperm(
        views.shape[0] * data.n_channels, generator=torch.Generator().manual_seed(0)
    )[:PROBE_SERIES].numpy()
    x = next(series_batches(data, "val", PROBE_SERIES, order))
    held: list[VQVAE] = []
    rows: list[dict] = []

    def keep(model: torch.nn.Module) -> torch.nn.Module:
        held.append(model)
        if args.rotation_min_cos is not None:
            model.quantizer.estimator = capped(args.rotation_min_cos)
        if args.no_rescale:
            model.quantizer.estimator = rotation_only
        return model

    def log(line: str) -> None:
        print(line, flush=True)
        if line.startswith("Epoch"):
            core = held[0]
            row = {"epoch": len(rows) + 1, **probe(core, x)}
            core.train()
            rows.append(row)
            print("  " + json.dumps(row), flush=True)

    with tempfile.TemporaryDirectory() as tmp:
        paths = RunPaths(Path(tmp), "diag")
        train(data, cfg, tcfg, paths, vars(args), log=log, wrap=keep)
        for name, path in (("best", paths.best), ("last", paths.last)):
            r = evaluate(Tokenizer.from_pretrained(path), data, "test")
            print(
                f"test {name} (epoch {r.epoch}): mse {r.mse:.4f}, codes used "
                f"{r.codes_used}, perplexity {r.perplexity:.1f}",
                flush=True,
            )
    if args.out:
        Path(args.out).write_text("".join(json.dumps(r) + "\n" for r in rows))


if __name__ == "__main__":
    main()
