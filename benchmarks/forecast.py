"""Forecasting from tsvq tokens, side by side: the same splits, windows and test score for all.

Rows, each trained and scored here on one dataset at one context L and horizon H:
  tokens     tsvq's forecaster on the frozen tokenizer's codes (`tsvq.forecast`)
  patches    the same forecaster on the context's own values, the same steps per token
             (continuous patches: no quantization)
  dlinear    a DLinear-style linear model on the raw context (Zeng et al. 2023: moving-average
             trend + remainder, one linear map each, shared by the channels), trained here
  last       repeat the context's last value (no training)
  mean       the context's mean (no training)
  recon      not a forecast: the tokenizer's reconstruction MSE of the test contexts (every
             `RECON_EVERY`-th window, each in its own RevIN space) beside the equal-bit k-means
             codebook's and the window mean's (`forecast_baselines.py`): what the tokens lose
and the published rows, quoted: PatchTST's repository, Table 3 (test MSE, multivariate,
L = 512 for PatchTST/64, L = 336 for DLinear; their loader drops the last partial test batch,
every row here scores every test window).

Test MSE/MAE per value on standardised data (the scaler fitted on the training rows), over
every channel; mean and sample std over seeds, wall time per training run. The contexts are
encoded once per dataset (the tokenizer is frozen; the time is printed) and shared by the
seeds. `--stride N` keeps every N-th training and validation window for every model (the test
split is always whole), so a large dataset is encoded in bounded time. Torch's threads follow
the cores other processes leave free (`tsvq.runtime.cpu.ThreadGovernor`, as `tsvq train` does;
`--threads` fixes them): on a shared CPU two threads of tiny ops run many times slower than
one. A row, with the settings it was made with, is appended per run to `--results` (JSON
lines), so runs made at different times print as one table:

    TSVQ_DATA_DIR=../shared/data nice -n 10 python benchmarks/forecast.py --dset etth1 \\
        --tokenizer /tmp/fc_tok/etth1/vqvae_cw512_ps16_ed32_cf4_cb256_model1.pth \\
        --seeds 2021 1 13 --n_epochs 10 --results forecast.jsonl
    python benchmarks/forecast.py --results forecast.jsonl --table
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

from tsvq import Tokenizer
from tsvq.cli import main as tsvq_main
from tsvq.data.windows import DataSpec, SeriesData, epoch_order, load
from tsvq.forecast.config import FitConfig
from tsvq.forecast.evaluate import evaluate, load_forecaster
from tsvq.forecast.fit import FitResult, fit, model_config
from tsvq.forecast.inputs import Split, encode_split, fingerprint
from tsvq.forecast.record import ForecastPaths
from tsvq.runtime.cpu import ThreadGovernor

sys.path.insert(0, str(Path(__file__).parent))
from forecast_baselines import NAIVE, DLinear, reconstruction, score, series_of  # noqa: E402

# PatchTST's repository (github.com/yuqinie98/PatchTST), Table 3: test MSE at horizon 96
PUBLISHED = {
    "etth1": {"PatchTST/64": 0.370, "DLinear": 0.375},
    "ettm1": {"PatchTST/64": 0.293, "DLinear": 0.299},
    "weather": {"PatchTST/64": 0.149, "DLinear": 0.176},
}
RECON_EVERY = 8  # the reconstruction figures: every 8th test window


def tokenizer_for(args: argparse.Namespace, out: Path) -> tuple[str, float]:
    """The given tokenizer, or one trained here (timed) with `--tokenizer_epochs`."""
    if args.tokenizer:
        return args.tokenizer, 0.0
    flags = ["--dset", args.dset, "--context_points", str(args.context_points)]
    flags += ["--n_epochs", str(args.tokenizer_epochs), "--save_path", str(out)]
    if args.tokenizer_steps:
        flags += ["--max_steps_per_epoch", str(args.tokenizer_steps)]
    t0 = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):
        rc = tsvq_main(["train", *flags])
    if rc != 0:
        raise SystemExit(f"training a tokenizer on {args.dset} failed with status {rc}")
    return str(next(out.glob("*/*_model1.pth"))), time.perf_counter() - t0


def fcfg(args: argparse.Namespace, seed: int) -> FitConfig:
    return FitConfig(
        n_epochs=args.n_epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        seed=seed,
        max_steps_per_epoch=args.max_steps_per_epoch,
        patience=args.patience,
        threads=args.threads,
    )


def run_forecaster(
    args: argparse.Namespace,
    tok: Tokenizer,
    source: str,
    data: SeriesData,
    prepared: dict,
    inputs: str,
    seed: int,
    out: Path,
) -> dict:
    """Train tsvq's forecaster on codes or on patches; score its best checkpoint, as saved."""
    shape = {"n_layers": args.n_layers, "d_model": args.d_model, "d_ff": 4 * args.d_model}
    shape["dropout"] = args.dropout
    if inputs == "codes":
        cfg = model_config(tok, args.context_points, args.horizon, **shape)
    else:  # the same steps per token and tokens per position as the codes
        c = tok.cfg
        shape |= {"token_len": c.compression_factor, "group": c.patch_size // c.compression_factor}
        cfg = model_config(None, args.context_points, args.horizon, **shape)
    paths = ForecastPaths(out / inputs, f"seed{seed}")
    use = prepared if inputs == "codes" else {k: Split(v.windows) for k, v in prepared.items()}
    t0 = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):
        result = fit(tok, data, cfg, fcfg(args, seed), paths, source=source, prepared=use)
    seconds = time.perf_counter() - t0
    loaded = load_forecaster(paths.best, source)
    scored = evaluate(loaded, data, "test", use["test"].codes)
    return _row(args, "tokens" if inputs == "codes" else "patches", seed, scored, seconds, result)


def _row(
    args: argparse.Namespace,
    model: str,
    seed: int,
    scored: dict,
    seconds: float,
    result: FitResult | None = None,
) -> dict:
    return {
        "dset": args.dset,
        "context": args.context_points,
        "horizon": args.horizon,
        "model": model,
        "seed": seed,
        "mse": scored["mse"],
        "mae": scored["mae"],
        "windows": scored["windows"],
        "epochs": len(result.history) if result else 0,
        "best_epoch": result.best_epoch if result else 0,
        "steps": args.max_steps_per_epoch,
        "seconds": round(seconds, 1),
        "settings": settings(args),
    }


def settings(args: argparse.Namespace) -> dict:
    """What a row was made with: the forecasters' size and loop, the windows, the tokenizer."""
    keys = ("n_layers", "d_model", "dropout", "lr", "dlinear_lr", "batch_size", "n_epochs")
    keys += ("max_steps_per_epoch", "patience", "stride", "threads")
    return {k: getattr(args, k) for k in keys} | {"tokenizer": args.tokenizer_used}


def splits(tok: Tokenizer | None, data: SeriesData, args: argparse.Namespace) -> dict[str, Split]:
    """Train, val (every `--stride`-th window) and test (every window), with their codes when
    `tok` is given: the same windows for every model."""
    out = {}
    for name in ("train", "val", "test"):
        windows = data.forecast_windows(name, args.horizon)
        windows = windows if name == "test" else windows[:: args.stride]
        codes = None if tok is None else encode_split(tok, windows, args.context_points)
        out[name] = Split(windows, codes)
    return out


def run_dlinear(
    args: argparse.Namespace,
    data: SeriesData,
    prepared: dict,
    seed: int,
    tick: Callable[[], None],
) -> dict:
    """Train a DLinear-style model (MSE, Adam, early stopping on the validation MSE): whole
    epochs always (a linear model; `--max_steps_per_epoch` bounds the forecasters only)."""
    torch.manual_seed(seed)
    L, H = args.context_points, args.horizon
    model = DLinear(L, H)
    opt = torch.optim.Adam(model.parameters(), lr=args.dlinear_lr)
    train, val = prepared["train"].windows, prepared["val"].windows
    best, best_state, since, epochs, best_epoch = float("inf"), None, 0, 0, 0
    t0 = time.perf_counter()
    for epoch in range(1, args.n_epochs + 1):
        order = epoch_order(train.shape[0] * train.shape[1], seed, epoch)
        for b in range(len(order) // args.batch_size):
            x = series_of(train, order[b * args.batch_size : (b + 1) * args.batch_size])
            loss = nn.functional.mse_loss(model(x[:, :L]), x[:, L:])
            opt.zero_grad()
            loss.backward()
            opt.step()
            tick()
        mse = score(val, L, lambda x: model(x))["mse"]
        epochs += 1
        if mse < best:
            best, since, best_epoch = mse, 0, epoch
            best_state = {k: v.clone() for k, v in model.state_dict().items()}
        else:
            since += 1
            if since >= args.patience:
                break
    seconds = time.perf_counter() - t0
    model.load_state_dict(best_state)
    scored = score(prepared["test"].windows, L, lambda x: model(x))
    row = _row(args, "dlinear", seed, scored, seconds)
    return row | {"epochs": epochs, "best_epoch": best_epoch, "steps": None}


MODELS = ("tokens", "patches", "dlinear", "last", "mean", "recon")


def table(rows: list[dict]) -> str:
    groups: dict[tuple, dict[str, list[dict]]] = {}
    for r in rows:
        groups.setdefault((r["dset"], r["context"], r["horizon"]), {}).setdefault(r["model"], [])
        groups[(r["dset"], r["context"], r["horizon"])][r["model"]].append(r)
    lines = [
        f"{'dataset':<9}{'L':>5}{'H':>5} {'model':<22}{'seeds':>6}{'MSE':>8}{'± sd':>8}"
        f"{'MAE':>8}{'± sd':>8}{'epochs':>10}{'s/run':>8}{'stride':>7}"
    ]
    for (dset, ctx, h), models in sorted(groups.items()):
        for model in sorted(models, key=MODELS.index):
            rs = models[model]
            if model == "recon":
                r = rs[-1]
                lines.append(
                    f"{dset:<9}{ctx:>5}{h:>5} tokenizer reconstruction (RevIN, {r['windows']} test "
                    f"contexts): {r['recon_mse']:.4f}; equal-bit k-means {r['kmeans_mse']:.4f}; "
                    f"window mean {r['mean_mse']:.4f}"
                )
                continue
            mse, mae = [r["mse"] for r in rs], [r["mae"] for r in rs]
            steps = f"/{rs[0]['steps']}st" if rs[0]["steps"] else ""
            low, high = min(r["epochs"] for r in rs), max(r["epochs"] for r in rs)
            epochs = f"{low}-{high}" if low < high else str(low)
            stride = rs[0].get("settings", {}).get("stride", 1)
            lines.append(
                f"{dset:<9}{ctx:>5}{h:>5} {model:<22}{len(rs):>6}{statistics.fmean(mse):>8.4f}"
                f"{_sd(mse):>8.4f}{statistics.fmean(mae):>8.4f}{_sd(mae):>8.4f}"
                f"{epochs + steps:>10}"
                f"{statistics.fmean(r['seconds'] for r in rs):>8.0f}{stride:>7}"
            )
        if h == 96:
            for name, value in PUBLISHED.get(dset, {}).items():
                lines.append(
                    f"{dset:<9}{'':>5}{h:>5} {name + ' (published)':<22}{'':>6}{value:>8.3f}"
                )
        if "tokens" in models and "patches" in models:
            ratio = statistics.fmean(r["mse"] for r in models["tokens"]) / statistics.fmean(
                r["mse"] for r in models["patches"]
            )
            lines.append(f"{dset:<9}{ctx:>5}{h:>5} MSE tokens / patches: {ratio:.3f}")
    lines.append(
        "MSE/MAE: test split, per value, standardised, every window; sd: over seeds; epochs: "
        "run (fewest-most over seeds), /Nst: N steps per epoch at most; s/run: training wall "
        "time; stride: every Nth train and val window"
    )
    return "\n".join(lines)


def _sd(values: list[float]) -> float:
    return statistics.stdev(values) if len(values) > 1 else 0.0


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dset", default="etth1")
    p.add_argument("--tokenizer", default=None, help="a tokenizer (default: train one here)")
    p.add_argument("--tokenizer_epochs", type=int, default=3)
    p.add_argument("--tokenizer_steps", type=int, default=None)
    p.add_argument("--context_points", type=int, default=512)
    p.add_argument("--horizon", type=int, default=96)
    p.add_argument("--seeds", type=int, nargs="+", default=[2021, 1, 13])
    p.add_argument("--n_epochs", type=int, default=10)
    p.add_argument("--max_steps_per_epoch", type=int, default=None)
    p.add_argument("--batch_size", type=int, default=128)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--dlinear_lr", type=float, default=1e-3)
    p.add_argument("--patience", type=int, default=3)
    p.add_argument("--n_layers", type=int, default=2)
    p.add_argument("--dropout", type=float, default=0.2)
    p.add_argument("--d_model", type=int, default=64)
    p.add_argument(
        "--models", nargs="+", default=["tokens", "patches", "dlinear", "naive", "recon"]
    )
    p.add_argument("--stride", type=int, default=1, help="every N-th train/val window")
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: free cores)")
    p.add_argument("--results", default=None, help="JSON lines file the rows are appended to")
    p.add_argument("--table", action="store_true", help="only print the table of --results")
    args = p.parse_args()
    if args.stride < 1:
        p.error(f"--stride {args.stride}: a window count, 1 or more")
    results = Path(args.results) if args.results else None
    rows: list[dict] = []

    def keep(row: dict) -> None:
        print(json.dumps(row), flush=True)
        rows.append(row)
        if results:
            with results.open("a") as f:
                f.write(json.dumps(row) + "\n")

    if not args.table:
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp)
            source, tok_seconds = tokenizer_for(args, out / "tokenizer")
            tok = Tokenizer.from_pretrained(source)
            args.tokenizer_used = {"path": source, "fingerprint": fingerprint(tok)}
            if not args.tokenizer:
                args.tokenizer_used |= {"epochs": args.tokenizer_epochs}
                args.tokenizer_used |= {"steps": args.tokenizer_steps}
            data = load(DataSpec(args.dset, None, None, args.context_points))
            governor = ThreadGovernor(args.threads)  # for the encoding and the baselines
            t0 = time.perf_counter()
            codes = "tokens" in args.models
            prepared = splits(tok if codes else None, data, args)
            print(
                f"{args.dset}: {data.n_channels} channels, windows "
                + ", ".join(f"{k} {v.windows.shape[0]}" for k, v in prepared.items())
                + f"; tokenizer trained here in {tok_seconds:.0f} s"
                + (f"; contexts encoded in {time.perf_counter() - t0:.0f} s" if codes else "")
                + f"; {torch.get_num_threads()} CPU threads",
                flush=True,
            )
            if "recon" in args.models:
                L, every = args.context_points, RECON_EVERY
                test = prepared["test"].windows[::every, :, :L]
                recon = reconstruction(tok, test, data)
                keep(_row(args, "recon", 0, {"mse": None, "mae": None, "windows": 0}, 0.0) | recon)
            for name, make in NAIVE.items():
                if "naive" in args.models:
                    scored = score(
                        prepared["test"].windows, args.context_points, make(args.horizon)
                    )
                    keep(_row(args, name, 0, scored, 0.0) | {"steps": None})
            for seed in args.seeds:
                for inputs in ("codes", "patches"):
                    if ("tokens" if inputs == "codes" else "patches") in args.models:
                        keep(run_forecaster(args, tok, source, data, prepared, inputs, seed, out))
                if "dlinear" in args.models:
                    keep(run_dlinear(args, data, prepared, seed, governor.tick))
    if results and results.exists():
        rows = [json.loads(line) for line in results.read_text().splitlines() if line.strip()]
    print(table(rows))


if __name__ == "__main__":
    main()
