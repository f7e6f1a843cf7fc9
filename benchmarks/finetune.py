"""Fine-tuning a shipped tokenizer for one epoch against training from scratch for one epoch.

    python benchmarks/finetune.py --init tsvq/ett --dsets illness,exchange

On each dataset's training split (as `scripts/pretrain.py` pools it: scaled by its own
training split, each channel a series), three runs of `tsvq.fit` with `scripts/pretrain.py`'s
recipe and batch, one epoch each: from scratch (`--init segments`, the default) and from the
tokenizer (`init=`), its codebook refitted to the dataset's encoder outputs first (the default
`codebook_init="kmeans"`), and from the tokenizer with its codebook kept as shipped
(`codebook_init="uniform"`). All are scored on the dataset's test split beside its own equal-bit
k-means codebook (`report.scores`, cached in --work); the ratio below 1 says the fine-tuned
run ended lower.
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


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--init", default="tsvq/ett", help="the tokenizer fine-tuned")
    p.add_argument("--dsets", default="illness,exchange")
    p.add_argument("--steps", type=int, help="bound the epoch to N batches (default: whole)")
    p.add_argument("--work", default="runs/pretrain")
    args = p.parse_args()
    base = keywords_for(args.init)
    print(f"one epoch from scratch vs one epoch from {args.init} (MSE per element, RevIN space)")
    print(
        "| dataset | training series | k-means (own train) | scratch | fine-tuned | ratio "
        "| fine-tuned, codebook kept | ratio |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
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
        scratch = tokenizer_score(tsvq.fit(series, **keywords), data)
        tuned = tokenizer_score(tsvq.fit(series, init=args.init, **keywords), data)
        kept = tsvq.fit(series, init=args.init, codebook_init="uniform", **keywords)
        kept = tokenizer_score(kept, data)
        print(
            f"| {dset} | {len(series)} | {k.mse:.4f} | {scratch.mse:.4f} | {tuned.mse:.4f} "
            f"| {tuned.mse / scratch.mse:.2f} | {kept.mse:.4f} | {kept.mse / scratch.mse:.2f} |",
            flush=True,
        )


def keywords_for(name: str) -> dict:
    """`scripts/pretrain.py`'s keywords at the codebook and factor of tokenizer `name`."""
    from tsvq.tokens.tokenizer import Tokenizer

    cfg = Tokenizer.from_pretrained(name).cfg
    args = argparse.Namespace(factor=cfg.compression_factor, codes=cfg.num_embeddings)
    args.epochs, args.steps = 1, None
    keywords = pretrain.flags(args, pretrain.Recipe(()))
    return keywords


if __name__ == "__main__":
    main()
