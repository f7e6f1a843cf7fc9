"""`tsvq forecast train | eval | predict`: a forecaster on a frozen tokenizer's codes (the work
is done by `tsvq.forecast`)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TYPE_CHECKING

from tsvq.cli.flags import (
    CHECKPOINT_HELP,
    HelpFormatter,
    Parser,
    add_device_arg,
    flag01,
    non_negative_float,
    positive_float,
    positive_int,
    seed,
)
from tsvq.cli.train import from_flags
from tsvq.data.registry import DATASET_NAMES
from tsvq.data.windows import FEATURES, SCALERS, SPLITS
from tsvq.errors import TsvqError

if TYPE_CHECKING:  # imports torch: loaded only when the command runs
    from tsvq.forecast.evaluate import Loaded

TOKENIZER_HELP = CHECKPOINT_HELP
SUBCOMMANDS = {
    "train": (
        "train a forecaster on a frozen tokenizer's codes",
        "reads:  the tokenizer and the --dset CSV (the tokenizer's own dataset by default)\n"
        "writes: {save_path}/{dset}/forecaster_codes_cw{L}_h{H}_model{id}.pth (best),\n"
        "        _last.pth (for --resume), _history.csv (one row per epoch)",
    ),
    "eval": (
        "test MSE/MAE of a forecaster on standardised values, per channel and overall",
        "reads:  the forecaster, its tokenizer and the dataset it was trained on\n"
        "writes: nothing; prints a table (or --json) on stdout",
    ),
    "predict": (
        "forecast the horizon after the last row of a CSV, in the file's own units",
        "reads:  the forecaster, its tokenizer and --data_path (a date column, then the\n"
        "        forecaster's channels)\n"
        "writes: --out, a CSV: step, date (when the context's dates are evenly spaced), one\n"
        "        column per channel",
    ),
}


def add_args(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="forecast_command", required=True, parser_class=Parser)
    for name, (help_text, reads_writes) in SUBCOMMANDS.items():
        s = sub.add_parser(
            name,
            help=help_text,
            description=f"{help_text}\n\n{reads_writes}",
            formatter_class=HelpFormatter,
        )
        {"train": _train_args, "eval": _eval_args, "predict": _predict_args}[name](s)


def _train_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("data: the tokenizer, the series, the windows")
    g.add_argument("--checkpoint", required=True, help=TOKENIZER_HELP)
    g.add_argument(
        "--dset",
        default=None,
        choices=DATASET_NAMES,
        help="dataset to forecast (default: the tokenizer's)",
    )
    g.add_argument("--root_path", default=None, help="data directory (as tsvq train has it)")
    g.add_argument("--data_path", default=None, help="CSV file for --dset custom")
    g.add_argument("--features", default="M", choices=FEATURES, help="M all channels, S the target")
    g.add_argument("--target", default="OT", help="target column for S and MS")
    g.add_argument(
        "--scaler", default="standard", choices=SCALERS, help="scaling fitted on the training rows"
    )
    g.add_argument(
        "--context_points",
        type=positive_int,
        default=512,
        help="context length L, a multiple of the tokenizer's patch_size",
    )
    g.add_argument("--horizon", type=positive_int, default=96, help="steps forecast, H")
    g = p.add_argument_group("model: the transformer over the code vectors")
    g.add_argument(
        "--id_embedding",
        type=flag01,
        default=0,
        help="add a learned vector per code id to its codebook vector, 0 or 1",
    )
    g.add_argument("--d_model", type=positive_int, default=64, help="transformer width")
    g.add_argument("--n_heads", type=positive_int, default=4, help="attention heads")
    g.add_argument("--n_layers", type=positive_int, default=2, help="encoder layers")
    g.add_argument("--d_ff", type=positive_int, default=256, help="feed-forward width")
    g.add_argument("--dropout", type=non_negative_float, default=0.2, help="transformer dropout")
    g.add_argument(
        "--stats_hidden", type=positive_int, default=512, help="width of the mean/std MLP"
    )
    g.add_argument(
        "--stats_dropout", type=non_negative_float, default=0.2, help="dropout of the mean/std MLP"
    )
    g = p.add_argument_group("training")
    g.add_argument("--n_epochs", type=positive_int, default=10, help="most epochs to train")
    g.add_argument("--batch_size", type=positive_int, default=128, help="series per step")
    g.add_argument("--lr", type=positive_float, default=1e-3, help="peak of the one-cycle schedule")
    g.add_argument("--weight_decay", type=non_negative_float, default=1e-4, help="AdamW decay")
    g.add_argument("--amp", type=flag01, default=0, help="mixed precision (bf16 on CPUs with it)")
    g.add_argument("--patience", type=positive_int, default=3, help="epochs without a better MSE")
    g.add_argument("--grad_clip", type=positive_float, default=1.0, help="gradient norm clip")
    g.add_argument("--loss", default="smoothl1", choices=("smoothl1", "mse"), help="training loss")
    g.add_argument("--seed", type=seed, default=2021, help="seed of the weights and the order")
    g.add_argument(
        "--max_steps_per_epoch",
        type=positive_int,
        default=None,
        help="bound an epoch: N batches of a fresh random subset, at most N validation batches",
    )
    g.add_argument("--threads", type=positive_int, default=None, help="CPU threads")
    add_device_arg(g)
    g.add_argument("--resume", action="store_true", help="continue from the run's _last.pth")
    g = p.add_argument_group("output")
    g.add_argument(
        "--save_path", default="saved_models/forecaster/", help="runs go to {save_path}/{dset}/"
    )
    g.add_argument("--model_id", type=positive_int, default=1, help="integer in the file name")


def _use_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--checkpoint", required=True, help="a .pth written by tsvq forecast train")
    p.add_argument(
        "--tokenizer",
        default=None,
        help="the forecaster's tokenizer, if it moved (default: where it was trained from); "
        "its fingerprint must be the recorded one",
    )
    p.add_argument(
        "--horizon",
        type=positive_int,
        default=None,
        help="refuse unless the forecaster was trained for this horizon (default: its own)",
    )
    add_device_arg(p)


def _eval_args(p: argparse.ArgumentParser) -> None:
    _use_args(p)
    p.add_argument("--split", default="test", choices=SPLITS, help="rows to score")
    p.add_argument("--root_path", default=None, help="data directory, if the data moved")
    p.add_argument("--data_path", default=None, help="the CSV of a forecaster on --dset custom")
    p.add_argument("--json", action="store_true", help="print one JSON object")


def _predict_args(p: argparse.ArgumentParser) -> None:
    _use_args(p)
    p.add_argument(
        "--data_path", required=True, help="CSV: a date column, then the forecaster's channels"
    )
    p.add_argument("--out", required=True, help="CSV file to write")


def run(args: argparse.Namespace) -> int:
    return {"train": _train, "eval": _eval, "predict": _predict}[args.forecast_command](args)


def _train(args: argparse.Namespace) -> int:
    from tsvq.data.windows import DataSpec, load
    from tsvq.forecast.config import FitConfig
    from tsvq.forecast.fit import fit, model_config
    from tsvq.forecast.record import ForecastPaths, forecaster_name
    from tsvq.run.record import check_name
    from tsvq.runtime.device import pick_device
    from tsvq.runtime.distributed import is_main, process_group
    from tsvq.tokens.tokenizer import Tokenizer

    with process_group(pick_device(args.device)):
        tok = Tokenizer.from_pretrained(args.checkpoint)
        dset = args.dset or tok.data.spec.dset
        if dset == "custom" and args.data_path is None:
            raise TsvqError(
                "--dset custom needs --data_path CSV (a date column, if any, then numbers)"
            )
        if args.context_points % tok.cfg.patch_size:
            raise TsvqError(
                f"--context_points {args.context_points} must be a multiple of the tokenizer's "
                f"patch_size {tok.cfg.patch_size}"
            )
        shape = {k: getattr(args, k) for k in ("d_model", "n_heads", "n_layers", "d_ff")}
        shape |= {k: getattr(args, k) for k in ("dropout", "stats_hidden", "stats_dropout")}
        try:
            cfg = model_config(
                tok,
                args.context_points,
                args.horizon,
                id_embedding=bool(args.id_embedding),
                **shape,
            )
        except TsvqError as exc:
            raise TsvqError(f"--{exc}" if getattr(exc, "field", None) else str(exc)) from None
        spec = from_flags(DataSpec, args, dset=dset)
        fcfg = from_flags(FitConfig, args, amp=bool(args.amp))
        data = load(spec)
        out = Path(args.save_path) / check_name(dset, "--dset")
        paths = ForecastPaths(
            out, forecaster_name(args.context_points, args.horizon, "codes", args.model_id)
        )
        say = print if is_main() else (lambda _msg: None)
        say(
            f"Forecaster on the codes of {args.checkpoint}: {dset}, {data.n_channels} channel(s), "
            f"context {args.context_points}, horizon {args.horizon}; windows train "
            f"{data.forecast_windows('train', args.horizon).shape[0]}, val "
            f"{data.forecast_windows('val', args.horizon).shape[0]}"
        )
        flags = {k: v for k, v in vars(args).items() if k != "handler"}
        result = fit(tok, data, cfg, fcfg, paths, source=args.checkpoint, args=flags, log=say)
        if result.best_epoch:
            say(f"Best model: epoch {result.best_epoch}, validation MSE {result.best_mse:.6f}")
        say(f"Model saved to: {paths.best}")
    return 0


def _loaded(args: argparse.Namespace) -> Loaded:
    from tsvq.forecast.evaluate import check_horizon, load_forecaster
    from tsvq.runtime.device import pick_device

    loaded = load_forecaster(args.checkpoint, args.tokenizer, pick_device(args.device))
    check_horizon(loaded, args.horizon)
    return loaded


def _eval(args: argparse.Namespace) -> int:
    from tsvq.forecast.evaluate import evaluate, format_table, load_data

    loaded = _loaded(args)
    result = evaluate(loaded, load_data(loaded, args.root_path, args.data_path), args.split)
    print(json.dumps(result) if args.json else format_table(result))
    return 0


def _predict(args: argparse.Namespace) -> int:
    from tsvq.forecast.predict import predict_csv, write_prediction

    if Path(args.out).is_dir():
        raise TsvqError(f"--out {args.out} is a directory; give a file name such as forecast.csv")
    loaded = _loaded(args)
    prediction = predict_csv(loaded, args.data_path)
    write_prediction(prediction, args.out)
    print(
        f"Forecast {loaded.horizon} steps x {len(prediction.columns)} channel(s) after the last "
        f"row of {args.data_path} (original units); wrote {args.out}"
    )
    return 0
