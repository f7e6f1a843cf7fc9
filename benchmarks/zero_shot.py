"""Zero-shot table: tokenizers on the test split of every benchmark, beside that benchmark's
own k-means codebook and a tokenizer trained on it alone.

    python benchmarks/zero_shot.py \\
        --tokenizer tsvq/ett=src/tsvq/tokens/shipped/ett \\
        --tokenizer tsvq/general=src/tsvq/tokens/shipped/general \\
        --local runs/pretrain/local

Each `--tokenizer LABEL=FOLDER` is a column; `--local DIR` adds the per-dataset column, the
tokenizer in DIR/<dataset> (`scripts/pretrain.py local-<dataset> --dsets <dataset> --out
DIR/<dataset>`: the same recipe and budget on that dataset alone). `--refit LABEL` adds a column
"LABEL refit": that tokenizer's network unchanged, its codebook refitted by Lloyd's iterations to
its encoder's outputs on the dataset's own training split (what `tsvq train --init` does before
its first step; no gradient step), which tells a codebook that serves one dataset poorly from a
network that does. The baseline column is
the equal-bit k-means codebook fitted on each dataset's own training split
(`tsvq.report.baseline`, cached in --work). Every figure: MSE per element in RevIN space over
every channel of the test split, each dataset scaled by its own training split; beside each
tokenizer, its ratio to the k-means baseline and to the per-dataset tokenizer (below 1:
better). `--json FILE` also writes every figure.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from pathlib import Path

from tsvq.data.windows import SeriesData
from tsvq.report.scores import (
    Score,
    cached_kmeans_score,
    cached_tokenizer_score,
    target_data,
    tokenizer_score,
)
from tsvq.tokens.tokenizer import Tokenizer
from tsvq.train.start import sample_latents

BENCHMARKS = ("etth1", "etth2", "ettm1", "ettm2", "weather", "exchange", "illness")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--tokenizer", action="append", default=[], help="LABEL=FOLDER (repeat)")
    p.add_argument("--local", help="folder of per-dataset tokenizers, one per dataset name")
    p.add_argument(
        "--refit",
        action="append",
        default=[],
        metavar="LABEL",
        help="also that --tokenizer's network with its codebook refitted on each dataset's "
        "training split (repeat)",
    )
    p.add_argument("--dsets", default=",".join(BENCHMARKS))
    p.add_argument("--work", default="runs/pretrain", help="where the baselines are cached")
    p.add_argument("--json", help="also write the figures here")
    args = p.parse_args()
    folders = dict(item.partition("=")[::2] for item in args.tokenizer)
    unknown = [label for label in args.refit if label not in folders]
    if unknown:
        p.error(f"--refit {unknown[0]}: not a --tokenizer label ({', '.join(folders) or 'none'})")
    columns = {label: Tokenizer.from_pretrained(folder) for label, folder in folders.items()}
    refits = {f"{label} refit": folders[label] for label in args.refit}
    dsets = [d for d in args.dsets.split(",") if d]
    cache = Path(args.work) / "baselines.json"
    rows = [row(d, columns, refits, args.local, cache) for d in dsets]
    print(table(rows, [*columns, *refits], args.local is not None))
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1, default=asdict), encoding="utf-8")


def row(
    dset: str,
    columns: dict[str, Tokenizer],
    refits: dict[str, str],
    local: str | None,
    cache: Path,
) -> dict[str, object]:
    """Every figure of one dataset: the baseline, each tokenizer, each refitted one, the
    per-dataset one."""
    first = next(iter(columns.values()))
    data = target_data(dset, first.cfg.context_points)
    k = cached_kmeans_score(data, first.cfg.num_embeddings, first.cfg.compression_factor, cache)
    out: dict[str, object] = {"dset": dset, "kmeans": k}
    for label, tok in columns.items():
        out[label] = cached_tokenizer_score(tok, data, cache)
    for label, folder in refits.items():  # not cached: the file's digest names the old codebook
        out[label] = tokenizer_score(refitted(folder, data), data)
    if local is not None:
        own = Tokenizer.from_pretrained(Path(local) / dset)
        out["local"] = cached_tokenizer_score(own, data, cache)
    return out


def refitted(folder: str, data: SeriesData) -> Tokenizer:
    """The tokenizer in `folder`, its codebook refitted to its encoder's outputs on `data`'s
    training split (Lloyd's iterations from the shipped codebook; seed 0)."""
    tok = Tokenizer.from_pretrained(folder)
    tok.model.quantizer.refit(sample_latents(tok.model, data, seed=0))
    return tok


def table(rows: list[dict[str, object]], labels: list[str], local: bool) -> str:
    """Markdown: one row per dataset; each tokenizer's MSE with its ratio to k-means (and to
    the per-dataset tokenizer)."""
    head = ["dataset", "windows", "k-means (own train)"]
    head += [f"{t} (x k-means{', x local' if local else ''})" for t in labels]
    head += ["per-dataset (x k-means)"] if local else []
    lines = ["| " + " | ".join(head) + " |", "|---|" + "---:|" * (len(head) - 1)]
    for r in rows:
        k = r["kmeans"]
        assert isinstance(k, Score)
        cells = [str(r["dset"]), str(k.windows), f"{k.mse:.4f}"]
        own = r.get("local")
        for t in [*labels, *(["local"] if local else [])]:
            s = r[t]
            assert isinstance(s, Score)
            ratios = [f"{s.mse / k.mse:.2f}"]
            if isinstance(own, Score) and t != "local":
                ratios.append(f"{s.mse / own.mse:.2f}")
            cells.append(f"{s.mse:.4f} ({', '.join(ratios)})")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
