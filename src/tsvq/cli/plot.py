"""`tsvq plot`: loss curves, reconstructions and code usage of a run, as PNG files."""

from __future__ import annotations

import argparse
from pathlib import Path

from tsvq.cli.flags import comma_list
from tsvq.data.windows import SPLITS


def add_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--checkpoint",
        required=True,
        help="a .pth written by tsvq train (loss curves from its history beside it), "
        "a folder written by tsvq export, or a Hugging Face Hub repo id",
    )
    p.add_argument(
        "--out",
        default=None,
        help="folder for the PNG files (default: {checkpoint}_plots beside it)",
    )
    p.add_argument(
        "--split", default="test", choices=SPLITS, help="rows to draw windows and code usage from"
    )
    p.add_argument(
        "--root_path", default=None, help="data directory, if the data moved since training"
    )
    p.add_argument(
        "--data_path",
        default=None,
        help="the CSV or Parquet file of a tokenizer trained on custom data, if its source "
        "does not record it (an exported folder)",
    )
    p.add_argument(
        "--channels",
        default=None,
        type=comma_list,
        help="comma-separated channel names or indices to draw (default: the target "
        "and the first others, four in all)",
    )


def run(args: argparse.Namespace) -> int:
    from tsvq.report.plot import plot_run

    out = Path(args.out) if args.out else None
    source = (args.root_path, args.data_path)
    for path in plot_run(Path(args.checkpoint), out, args.split, args.channels, source=source):
        print(path)
    return 0
