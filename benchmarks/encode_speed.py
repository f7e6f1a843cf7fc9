"""Tokenizer throughput on the CPU: windows per second for encode and decode.

Side by side with the bare model (VQVAE.encode / decode on series already scaled, in passes of
the same size), so the figures also show what the Tokenizer's checks, scaling and copies cost.
Without --checkpoint it times an untrained model of the given shape (speed does not depend on
the weights) on a random walk.

    PYTHONPATH=src python benchmarks/encode_speed.py [--checkpoint RUN.pth] [--windows 2000]
        [--threads N] [--batch_size WINDOWS]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import numpy as np
import torch

from tsvq import Tokenizer
from tsvq.model import ModelConfig
from tsvq.revin import RevinStats


def untrained(context_points: int, channels: int, num_embeddings: int) -> Tokenizer:
    cfg = ModelConfig(context_points=context_points, num_embeddings=num_embeddings)
    data = {"dset": "custom", "features": "M", "target": "OT", "channel": None,
            "columns": [f"c{i}" for i in range(channels)],
            "scaler": {"kind": "none", "shift": [0.0] * channels, "scale": [1.0] * channels}}
    return Tokenizer(model=cfg.to_dict(), data=data).eval()


def best_of(fn: Callable[[], object], repeat: int) -> float:
    """Median seconds of `repeat` timed calls after one warm-up call."""
    fn()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--checkpoint", default=None, help="a .pth or exported folder (default: none)")
    p.add_argument("--context_points", type=int, default=96)
    p.add_argument("--channels", type=int, default=7)
    p.add_argument("--num_embeddings", type=int, default=256)
    p.add_argument("--windows", type=int, default=2000)
    p.add_argument("--batch_size", type=int, default=None, help="windows per pass")
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    p.add_argument("--repeat", type=int, default=3)
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    if args.checkpoint:
        tok = Tokenizer.from_pretrained(args.checkpoint)
    else:
        tok = untrained(args.context_points, args.channels, args.num_embeddings)
    t, c = tok.cfg.context_points, tok.n_channels
    rng = np.random.default_rng(0)
    x = (np.cumsum(rng.standard_normal((args.windows, t, c)), axis=1) * tok.scaler.scale
         + tok.scaler.shift).astype(np.float32)  # [B, T, C], original units
    enc = tok.encode(x, batch_size=args.batch_size)

    # The bare model on the same work: scaled series [B*C, T], the same number per pass.
    per_pass = tok._windows_per_pass(args.batch_size) * c
    series = torch.from_numpy(((x - tok.scaler.shift) / tok.scaler.scale)
                              .transpose(0, 2, 1).reshape(-1, t).copy())
    codes = torch.from_numpy(enc.codes.reshape(-1, tok.n_tokens))
    stats = RevinStats(torch.from_numpy(enc.mean.reshape(-1, 1)),
                       torch.from_numpy(enc.std.reshape(-1, 1)))

    @torch.inference_mode()
    def bare_encode() -> None:
        for s in series.split(per_pass):
            tok.model.encode(s)

    @torch.inference_mode()
    def bare_decode() -> None:
        for lo in range(0, len(codes), per_pass):
            hi = lo + per_pass
            tok.model.decode(codes[lo:hi], RevinStats(stats.mean[lo:hi], stats.std[lo:hi]))

    rows = [
        ("Tokenizer.encode", best_of(lambda: tok.encode(x, batch_size=args.batch_size),
                                     args.repeat)),
        ("VQVAE.encode (bare)", best_of(bare_encode, args.repeat)),
        ("Tokenizer.decode", best_of(lambda: tok.decode(enc, batch_size=args.batch_size),
                                     args.repeat)),
        ("VQVAE.decode (bare)", best_of(bare_decode, args.repeat)),
    ]
    cfg = tok.cfg
    print(f"CPU, {torch.get_num_threads()} thread(s); model cw{t} ps{cfg.patch_size} "
          f"cf{cfg.compression_factor} cb{cfg.num_embeddings} "
          f"({tok.model.num_parameters():,} parameters); {args.windows} windows x {c} channel(s), "
          f"{per_pass} series per pass; median of {args.repeat}")
    print(f"{'':<22}{'windows/s':>12}{'series/s':>12}")
    for name, seconds in rows:
        w = args.windows / seconds
        print(f"{name:<22}{w:>12,.0f}{w * c:>12,.0f}")


if __name__ == "__main__":
    main()
