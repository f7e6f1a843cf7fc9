"""`tsvq plot`: loss curves, reconstructions and code usage of a run, as PNG files."""

from __future__ import annotations

import argparse
from pathlib import Path

from tsvq.cli.flags import CHECKPOINT_HELP, comma_list
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
        "--channels",
        default=None,
        type=comma_list,
        help="comma-separated channel names or indices to draw (default: the target "
        "and the first others, four in all)",
    )


def run(args: argparse.Namespace) -> int:
    from tsvq.report.plot import plot_run

    for path in plot_run(
        Path(args.checkpoint), Path(args.out) if args.out else None, args.split, args.channels
    ):
        print(path)
    return 0
