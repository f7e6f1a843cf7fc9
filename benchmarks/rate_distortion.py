"""Rate and distortion: codebook size x compression factor -> bits per value -> test MSE.

Each cell trains tsvq through its own `train` command (`quality.py`'s run: the specification's
defaults, or a recipe with `--flags "--config FILE"`) with `--num_embeddings K` and
`--compression_factor F`, and scores the best checkpoint on the test split beside the baseline
of the same budget (k-means with K codes on raw F-step segments: log2(K)/F bits per value,
exactly the model's). A user picks K and F for a budget of bits from the table:

    TSVQ_DATA_DIR=../shared/data python benchmarks/rate_distortion.py --dset etth1 \\
        --channel all --codebooks 64 256 1024 --factors 4 8 16 --epochs 10 \\
        --max_steps_per_epoch 100 --results rd.jsonl
    python benchmarks/rate_distortion.py --results rd.jsonl --table   # print only

Rows are appended to `--results` (JSON lines, quality.py's rows), so cells run at different
times print as one table, sorted by bits per value.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import quality
import rowfile

from tsvq.report.baseline import FIT_SEGMENTS


def table(rows: list[dict]) -> str:
    head = (
        f"{'dataset':<9}{'channels':<9}{'K':>6}{'factor':>7}{'bits/value':>11}{'steps':>10}"
        f"{'ep':>4}{'seed':>5}{'tsvq MSE':>10}{'baseline':>10}{'gain':>7}{'codes':>10}"
        f"  flags"
    )
    body = []
    for r in sorted(rows, key=order):
        gain = rowfile.gain(r["mse"], r["baseline_mse"])
        body.append(
            f"{r['dset']:<9}{r['channels']:<9}{r['codebook_size']:>6}{r['compression_factor']:>7}"
            f"{r['bits_per_value']:>11.3f}{r['steps']!s:>10}{r['epochs']:>4}{r['seed']:>5}"
            f"{r['mse']:>10.4f}{r['baseline_mse']:>10.4f}{gain:>6.0f}%"
            f"{r['codes_used']:>6}/{r['codebook_size']:<4}  {r['flags']}"
        )
    note = (
        "bits/value: log2(K) / factor; tsvq MSE: the best checkpoint on the test split, per "
        "element in RevIN space; baseline: k-means with K codes on raw factor-step segments, "
        "the same windows and bits; gain: tsvq below the baseline, in percent; steps: "
        "training batches per epoch, N/M where --max_steps_per_epoch bounds an epoch of M"
    )
    return rowfile.layout(head, body, note)


def order(r: dict) -> tuple:
    """Rows by data, then bits per value."""
    return (r["dset"], str(r["channels"]), r["bits_per_value"], r["codebook_size"], r["flags"])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dset", default="etth1")
    p.add_argument("--channel", default="all", help="channel index, or 'all'")
    p.add_argument("--codebooks", type=int, nargs="+", default=[64, 256, 1024])
    p.add_argument("--factors", type=int, nargs="+", default=[4, 8, 16])
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--max_steps_per_epoch", type=int, default=None)
    p.add_argument("--seeds", type=int, nargs="+", default=[2021])
    p.add_argument("--flags", default="", help="more tsvq train flags for every run, quoted")
    p.add_argument(
        "--baseline_segments",
        type=int,
        default=FIT_SEGMENTS,
        help="training segments each baseline codebook is fitted on",
    )
    rowfile.add_args(p)
    args = p.parse_args()
    results = rowfile.results_of(args)
    quality.BASELINE_SEGMENTS[0] = args.baseline_segments
    rows: list[dict] = []
    if not args.table:
        for seed in args.seeds:
            for k in args.codebooks:
                for cf in args.factors:
                    budget = ["--num_embeddings", str(k), "--compression_factor", str(cf)]
                    with tempfile.TemporaryDirectory() as tmp:
                        row = quality.run(
                            args.dset,
                            args.channel,
                            "default",
                            seed,
                            args.epochs,
                            args.max_steps_per_epoch,
                            [*args.flags.split(), *budget],
                            Path(tmp),
                        )
                    row["compression_factor"] = cf
                    row["flags"] = args.flags
                    rowfile.keep(row, rows, results)
    print(table(rowfile.gathered(rows, results)))


if __name__ == "__main__":
    main()
