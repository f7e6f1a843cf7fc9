"""`tsvq eval`: reconstruction error and codebook usage of a checkpoint over a split, beside the
equal-bit codebook without a network and the window mean on the same windows (`report.verdict`),
and a warning in words when the model does not beat them."""

from __future__ import annotations

import argparse

from tsvq.cli.flags import CHECKPOINT_HELP, add_device_arg
from tsvq.data.registry import DATASET_NAMES
from tsvq.data.windows import SPLITS
from tsvq.files import json_text


def add_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--checkpoint",
        required=True,
        help=CHECKPOINT_HELP,
    )
    p.add_argument("--split", default="test", choices=SPLITS, help="rows to evaluate")
    p.add_argument(
        "--dset",
        default=None,
        choices=DATASET_NAMES,
        help="evaluate zero-shot on this dataset instead of the tokenizer's own (custom: "
        "--data_path CSV): every channel, a scaler fitted on its own training split, the "
        "baselines too; a --revin 0 tokenizer is refused (default: the tokenizer's own data, "
        "scaled as in training)",
    )
    p.add_argument(
        "--root_path",
        default=None,
        help="data directory, if the data moved since training (with --dset: where it is)",
    )
    p.add_argument(
        "--data_path",
        default=None,
        help="the CSV or Parquet file of a tokenizer trained on custom data, if its source "
        "does not record it (an exported folder); with --dset custom, the file to evaluate on",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object")
    add_device_arg(p)


def run(args: argparse.Namespace) -> int:
    from tsvq.report.evaluate import evaluate, format_table, load_split_data
    from tsvq.report.verdict import against_baseline, format_verdict
    from tsvq.report.zero_shot import foreign_data
    from tsvq.runtime.device import pick_device
    from tsvq.tokens.tokenizer import Tokenizer

    tok = Tokenizer.from_pretrained(args.checkpoint, device=pick_device(args.device))
    said = None
    if args.dset is None:  # the tokenizer's own data, scaled as in training
        data = load_split_data(tok, args.root_path, args.data_path)
    else:
        data, said = foreign_data(tok, args.dset, args.root_path, args.data_path)
    result = evaluate(tok, data, args.split)
    v = against_baseline(tok.cfg, data, args.split, result.mse, result.dead_codes, result.epoch)
    if args.json:
        extra = {"zero_shot": said.to_dict()} if said else {}
        print(json_text({**result.to_dict(), "baseline": v.to_dict(), **extra}))
    else:
        head = f"{said.line()}\n" if said else ""
        print(f"{head}{format_table(result)}\n{format_verdict(v)}")
    return 0
