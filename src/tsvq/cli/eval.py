"""`tsvq eval`: reconstruction error and codebook usage of a checkpoint over a split, beside the
equal-bit codebook without a network and the window mean on the same windows (`report.verdict`),
and a warning in words when the model does not beat them."""

from __future__ import annotations

import argparse

from tsvq.cli.flags import add_device_arg
from tsvq.data.windows import SPLITS
from tsvq.files import json_text


def add_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--checkpoint",
        required=True,
        help="a .pth written by tsvq train or by the original vqvae_train.py, a "
        "folder written by tsvq export, or a Hugging Face Hub repo id",
    )
    p.add_argument("--split", default="test", choices=SPLITS, help="rows to evaluate")
    p.add_argument(
        "--root_path", default=None, help="data directory, if the data moved since training"
    )
    p.add_argument(
        "--data_path",
        default=None,
        help="the CSV or Parquet file of a tokenizer trained on custom data, if its source "
        "does not record it (an exported folder)",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object")
    add_device_arg(p)


def run(args: argparse.Namespace) -> int:
    from tsvq.report.evaluate import evaluate, format_table, load_split_data
    from tsvq.report.verdict import against_baseline, format_verdict
    from tsvq.runtime.device import pick_device
    from tsvq.tokens.tokenizer import Tokenizer

    tok = Tokenizer.from_pretrained(args.checkpoint, device=pick_device(args.device))
    data = load_split_data(tok, args.root_path, args.data_path)
    result = evaluate(tok, data, args.split)
    v = against_baseline(tok.cfg, data, args.split, result.mse, result.dead_codes, result.epoch)
    if args.json:
        print(json_text({**result.to_dict(), "baseline": v.to_dict()}))
    else:
        print(f"{format_table(result)}\n{format_verdict(v)}")
    return 0
