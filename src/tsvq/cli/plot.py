"""`tsvq plot`: loss curves, reconstructions and code usage of a run, as PNG files."""

from __future__ import annotations

import argparse
from pathlib import Path

from tsvq.cli.flags import CHECKPOINT_HELP, comma_list
from tsvq.data.registry import DATASET_NAMES
from tsvq.data.windows import SPLITS


def add_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--checkpoint",
        required=True,
        help=f"{CHECKPOINT_HELP}; loss curves need a .pth (its history beside it)",
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
        "--dset",
        default=None,
        choices=DATASET_NAMES,
        help="draw windows of this dataset instead of the tokenizer's own, zero-shot (custom: "
        "--data_path FILE), scaled by a scaler fitted on its own training split",
    )
    p.add_argument(
        "--root_path",
        default=None,
        help="data directory of --dset, or of the tokenizer's own data if it moved since training",
    )
    p.add_argument(
        "--data_path",
        default=None,
        help="the file for --dset custom; or the CSV or Parquet file of a tokenizer trained on "
        "custom data, if its source does not record it (an exported folder)",
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
    for path in plot_run(
        Path(args.checkpoint),
        out,
        args.split,
        args.channels,
        dset=args.dset,
        root_path=args.root_path,
        data_path=args.data_path,
    ):
        print(path)
    return 0
