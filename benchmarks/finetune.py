"""Fine-tuning a shipped tokenizer for one epoch against training from scratch for one epoch.

    python benchmarks/finetune.py --init tsvq/ett --dsets illness,exchange

On each dataset's training split (as `scripts/pretrain.py` pools it: scaled by its own
training split, each channel a series), three runs of `tsvq.fit` with `scripts/pretrain.py`'s
recipe and batch, one epoch each: from scratch (`--init segments`, the default) and from the
tokenizer (`init=`), its codebook refitted to the dataset's encoder outputs first (the default
`codebook_init="kmeans"`), and from the tokenizer with its codebook kept as shipped
(`codebook_init="uniform"`). Beside them, the tokenizer with only its codebook refitted to the
dataset's encoder outputs and no training step (`zero_shot.refitted`, the fine-tuned run's start).
All are scored on the dataset's test split beside its own equal-bit k-means codebook
(`report.scores`, cached in --work); the ratio below 1 says the run ended lower than scratch.
`--lr` sets the learning rate of all three runs (default: the recipe's 1e-3; the
specification's default, which `tsvq train --init` uses unless told, is 1e-4).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import tsvq
from tsvq.data.pool import training_pool
from tsvq.report.scores import cached_kmeans_score, target_data, tokenizer_score

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
import pretrain  # noqa: E402  (the recipe and budget the shipped tokenizers trained with)
from zero_shot import refitted  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--init", default="tsvq/ett", help="the tokenizer fine-tuned")
    p.add_argument("--dsets", default="illness,exchange")
    p.add_argument("--steps", type=int, help="bound the epoch to N batches (default: whole)")
    p.add_argument("--lr", type=float, help="learning rate of every run (default: the recipe's)")
    p.add_argument("--work", default="runs/pretrain")
    args = p.parse_args()
    if args.lr is not None and not args.lr > 0:
        p.error(f"--lr must be above 0, not {args.lr}")
    base = keywords_for(args.init) | ({"lr": args.lr} if args.lr is not None else {})
    print(
        f"one epoch from scratch vs one epoch from {args.init}, lr {base['lr']:g} "
        "(MSE per element, RevIN space)"
    )
    print(
        "| dataset | training series | k-means (own train) | scratch | codebook refit, no step "
        "| ratio | fine-tuned | ratio | fine-tuned, codebook kept | ratio |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for dset in [d for d in args.dsets.split(",") if d]:
        series, _ = training_pool([dset], pretrain.CONTEXT)
        keywords = {**base, "max_steps_per_epoch": args.steps}
        data = target_data(dset, pretrain.CONTEXT)
        k = cached_kmeans_score(
            data,
            base["num_embeddings"],
            base["compression_factor"],
            Path(args.work) / "baselines.json",
        )
        scratch = tokenizer_score(tsvq.fit(series, **keywords), data).mse
        refit = tokenizer_score(refitted(args.init, data), data).mse
        tuned = tokenizer_score(tsvq.fit(series, init=args.init, **keywords), data).mse
        kept = tsvq.fit(series, init=args.init, codebook_init="uniform", **keywords)
        kept_mse = tokenizer_score(kept, data).mse
        cells = [f"{m:.4f} | {m / scratch:.2f}" for m in (refit, tuned, kept_mse)]
        print(
            f"| {dset} | {len(series)} | {k.mse:.4f} | {scratch:.4f} | {' | '.join(cells)} |",
            flush=True,
        )


def keywords_for(name: str) -> dict:
    """`scripts/pretrain.py`'s keywords at the codebook and factor of tokenizer `name`."""
    from tsvq.tokens.tokenizer import Tokenizer

    cfg = Tokenizer.from_pretrained(name).cfg
    recipe = pretrain.Recipe(
        (), compression_factor=cfg.compression_factor, codes=cfg.num_embeddings
    )
    return pretrain.flags(argparse.Namespace(epochs=1, steps=None), recipe)


if __name__ == "__main__":
    main()
