"""Tokenizer quality, measured: variants of the quantizer trained side by side, same work.

Each run goes through tsvq's own `train` command (the specification's defaults unless a variant
or `--flags` says otherwise) and is evaluated on the test split with tsvq's `evaluate`, the best
checkpoint and the last epoch's. Rows are appended to `--results` (JSON lines), so runs made
at different times (or at the same time, in separate processes) print as one table:

    TSVQ_DATA_DIR=../shared/data OMP_NUM_THREADS=1 python benchmarks/quality.py \
        --dset etth1 --channel 0 --epochs 10 --seeds 7 2021 --variants ste rotation \
        --results quality.jsonl
    python benchmarks/quality.py --results quality.jsonl --table   # print only

Columns: test MSE per element in RevIN space of the best checkpoint (the run's selection rule)
and of the last epoch, beside the baseline on the same windows (k-means with the model's K on
raw `compression_factor`-step segments, `tsvq.report.baseline`; the window mean scores about
1.0) and the best checkpoint's gain over it in percent, codes used and perplexity on the test
split (token entropy in bits is log2 of the perplexity), the epochs the two selection rules
pick (validation reconstruction, validation total loss) and the validation VQ term (per
series) at the first and last epoch.
A bounded run (`--max_steps_per_epoch`) says so in the steps column (N/M: N of M batches).
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import io
import math
import tempfile
import time
from pathlib import Path

import rowfile

from tsvq import Tokenizer
from tsvq.cli import main as tsvq_main
from tsvq.data.windows import SeriesData
from tsvq.report.baseline import FIT_SEGMENTS, Baseline, baseline
from tsvq.report.evaluate import evaluate, load_split_data
from tsvq.run.checkpoint import load_run

VARIANTS = {
    "default": [],  # tsvq's defaults as they are
    "original": [
        *("--quantizer", "vq", "--codebook_init", "uniform", "--dead_code_restart", "0"),
        *("--init", "random", "--gradient", "ste"),
    ],
    # from a random start (PyTorch's initialisation), as tsvq trained before the segment start
    "ste": ["--gradient", "ste", "--init", "random"],
    "rotation": ["--gradient", "rotation", "--init", "random"],
    "rotation_unscaled": ["--gradient", "rotation_unscaled", "--init", "random"],
    # from the segment start, with the commitment at the reconstruction's weight
    "balanced": ["--gradient", "balanced", "--init", "segments"],
}


BASELINES: dict[tuple, Baseline] = {}  # one fit per data and budget in a process
BASELINE_SEGMENTS = [FIT_SEGMENTS]  # --baseline_segments


def baseline_of(data: SeriesData, k: int, cf: int, revin: bool) -> Baseline:
    """The test split's baselines for this data, K and compression factor (fitted once)."""
    key = (data.spec, k, cf, revin)
    if key not in BASELINES:
        BASELINES[key] = baseline(data, "test", k, cf, revin, n_segments=BASELINE_SEGMENTS[0])
    return BASELINES[key]


def run(
    dset: str,
    channel: str,
    variant: str,
    seed: int,
    epochs: int,
    steps: int | None,
    extra: list[str],
    out: Path,
) -> dict:
    """Train one variant, evaluate its best and last checkpoints; one table row."""
    flags = [
        "--dset",
        dset,
        "--n_epochs",
        str(epochs),
        "--seed",
        str(seed),
        "--save_path",
        str(out),
        *VARIANTS[variant],
        *extra,
    ]
    if channel != "all":
        flags += ["--channel", channel]
    if steps:
        flags += ["--max_steps_per_epoch", str(steps)]
    t0 = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):
        rc = tsvq_main(["train", *flags])
    seconds = time.perf_counter() - t0
    if rc != 0:
        raise SystemExit(f"training {variant} on {dset} failed with status {rc}")
    best = next(p for p in out.glob("*/*_model*.pth") if not p.stem.endswith("_last"))
    results = {}
    for name, path in (("best", best), ("last", best.with_name(best.stem + "_last.pth"))):
        tok = Tokenizer.from_pretrained(path)
        data = load_split_data(tok)
        results[name] = evaluate(tok, data, "test").to_dict()
    cfg = tok.cfg
    base = baseline_of(data, cfg.num_embeddings, cfg.compression_factor, cfg.revin)
    batch_size = load_run(best).train.batch_size
    batches = -(-data.n_windows("train") * data.n_channels // batch_size)
    with open(best.with_name(best.stem + "_history.csv")) as f:
        hist = list(csv.DictReader(f))
    recon = [float(r["valid_recon_loss"]) for r in hist]
    total = [float(r["valid_loss"]) for r in hist]
    r = results["best"]
    return {
        "dset": dset,
        "channels": channel if channel != "all" else f"all {r['channels']}",
        "variant": variant,
        "flags": " ".join(extra),
        "seed": seed,
        "epochs": epochs,
        "steps": f"{steps}/{batches}" if steps and steps < batches else f"{batches}",
        "mse": r["mse"],
        "mse_last": results["last"]["mse"],
        "baseline_mse": base.kmeans_mse,
        "window_mean_mse": base.window_mean_mse,
        "bits_per_value": base.bits_per_value,
        "codes_used": r["codes_used"],
        "codebook_size": r["codebook_size"],
        "perplexity": r["perplexity"],
        "best_epoch": r["epoch"],
        "best_by_recon": 1 + recon.index(min(recon)),
        "best_by_loss": 1 + total.index(min(total)),
        "valid_vq_first": float(hist[0]["valid_vq_loss"]),
        "valid_vq_last": float(hist[-1]["valid_vq_loss"]),
        "seconds": round(seconds, 1),
    }


def table(rows: list[dict]) -> str:
    head = (
        f"{'dataset':<9}{'channels':<9}{'variant':<22}{'seed':>5}{'ep':>4}{'steps':>10}"
        f"{'MSE':>8}{'MSE last':>9}{'baseline':>9}{'gain':>6}{'codes':>9}{'perp':>7}"
        f"{'bits':>6}{'best':>5}"
        f"{'by recon':>9}{'by loss':>8}{'VQ 1st':>10}{'VQ last':>10}"
    )
    body = []
    key = ("dset", "channels", "epochs", "steps", "flags", "seed", "variant")
    for r in rowfile.sorted_by(rows, key):
        name = (r["variant"] + (" " + r["flags"] if r["flags"] else ""))[:21]
        body.append(
            f"{r['dset']:<9}{r['channels']:<9}{name:<22}{r['seed']:>5}{r['epochs']:>4}"
            f"{r['steps']!s:>10}{r['mse']:>8.4f}{r['mse_last']:>9.4f}{_baseline_cells(r)}"
            f"{r['codes_used']:>5}/{r['codebook_size']:<3}{r['perplexity']:>7.1f}"
            f"{math.log2(r['perplexity']):>6.2f}{r['best_epoch']:>5}{r['best_by_recon']:>9}"
            f"{r['best_by_loss']:>8}{r['valid_vq_first']:>10.2f}{r['valid_vq_last']:>10.2f}"
        )
    note = (
        "MSE: test split, per element, RevIN space; baseline: k-means with the model's K on "
        "raw compression_factor-step segments, the same windows; gain: MSE below it, in "
        "percent (negative: the network does worse than the codebook alone); best: the "
        "epoch of the saved best checkpoint; by recon / by loss: the epoch each validation "
        "rule picks; VQ: validation VQ term per series; steps: training batches per epoch, "
        "N/M where --max_steps_per_epoch bounds an epoch of M (validation too)"
    )
    return rowfile.layout(head, body, note)


def _baseline_cells(r: dict) -> str:
    if "baseline_mse" not in r:  # a row written before the baseline was measured
        return f"{'-':>9}{'-':>6}"
    return f"{r['baseline_mse']:>9.4f}{rowfile.gain(r['mse'], r['baseline_mse']):>5.0f}%"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dset", default="etth1")
    p.add_argument("--channel", default="0", help="channel index, or 'all'")
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--seeds", type=int, nargs="+", default=[2021])
    p.add_argument("--variants", nargs="+", default=["ste", "rotation"], choices=list(VARIANTS))
    p.add_argument("--max_steps_per_epoch", type=int, default=None)
    p.add_argument("--flags", default="", help="more tsvq train flags for every run, quoted")
    p.add_argument(
        "--baseline_segments",
        type=int,
        default=FIT_SEGMENTS,
        help="training segments the baseline codebook is fitted on",
    )
    rowfile.add_args(p)
    args = p.parse_args()
    results = rowfile.results_of(args)
    BASELINE_SEGMENTS[0] = args.baseline_segments
    rows: list[dict] = []
    if not args.table:
        for seed in args.seeds:
            for variant in args.variants:
                with tempfile.TemporaryDirectory() as tmp:
                    row = run(
                        args.dset,
                        args.channel,
                        variant,
                        seed,
                        args.epochs,
                        args.max_steps_per_epoch,
                        args.flags.split(),
                        Path(tmp),
                    )
                rowfile.keep(row, rows, results)
    print(table(rowfile.gathered(rows, results)))


if __name__ == "__main__":
    main()
