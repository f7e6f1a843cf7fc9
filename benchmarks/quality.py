"""Codebook health, measured: the original behaviour against tsvq's default, same work.

Trains both for the same epochs on the same data with the specification's defaults otherwise,
evaluates both on the test split and prints MSE (RevIN space), codes used, perplexity and
seconds side by side.

    TSVQ_DATA_DIR=../shared/data python benchmarks/quality.py --dset etth1 --channel 0 --epochs 3
"""

from __future__ import annotations

import argparse
import contextlib
import io
import tempfile
import time
from pathlib import Path

from tsvq.cli import main as tsvq_main
from tsvq.evaluate import evaluate, load_model, load_split_data

VARIANTS = {
    "original (uniform init, no restart, vq)":
        ["--quantizer", "vq", "--codebook_init", "uniform", "--dead_code_restart", "0"],
    "tsvq default (k-means init, restart, ema)": [],
}


def run(name: str, flags: list[str], common: list[str], out: Path) -> dict:
    save = out / str(abs(hash(name)))
    t0 = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):
        rc = tsvq_main(["train", *common, "--save_path", str(save), *flags])
    seconds = time.perf_counter() - t0
    if rc != 0:
        raise SystemExit(f"training {name!r} failed with status {rc}")
    ckpt = next(save.glob("*/*_model*.pth"))
    loaded = load_model(ckpt)
    r = evaluate(loaded, load_split_data(loaded), "test")
    return {"name": name, "seconds": seconds, **r}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dset", default="etth1")
    p.add_argument("--channel", default="0", help="channel index, or 'all'")
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--context_points", type=int, default=512)
    p.add_argument("--seed", type=int, default=2021)
    args = p.parse_args()
    common = ["--dset", args.dset, "--n_epochs", str(args.epochs),
              "--context_points", str(args.context_points), "--seed", str(args.seed)]
    if args.channel != "all":
        common += ["--channel", args.channel]
    with tempfile.TemporaryDirectory() as tmp:
        rows = [run(name, flags, common, Path(tmp)) for name, flags in VARIANTS.items()]
    print(f"{args.dset} channel={args.channel} epochs={args.epochs} "
          f"context_points={args.context_points}, test split, MSE per element in RevIN space")
    print(f"{'variant':<44}{'mse':>9}{'mae':>9}{'codes used':>12}{'perplexity':>12}"
          f"{'best epoch':>11}{'seconds':>9}")
    for r in rows:
        print(f"{r['name']:<44}{r['mse']:>9.4f}{r['mae']:>9.4f}"
              f"{r['codes_used']:>8}/{r['codebook_size']:<3}{r['perplexity']:>12.1f}"
              f"{r['epoch']:>11}{r['seconds']:>9.1f}")
    base, new = rows
    print(f"MSE ratio original/tsvq: {base['mse'] / new['mse']:.1f}x")


if __name__ == "__main__":
    main()
