"""`tsvq data list | download`: the benchmark datasets in the data directory."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from tsvq.cli.flags import HelpFormatter, Parser, non_negative_int, positive_float
from tsvq.data.download import URL_ENV
from tsvq.data.registry import REGISTRY, default_data_dir


def add_args(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(
        dest="action", metavar="list|download", required=True, parser_class=Parser
    )
    kw: dict[str, Any] = {"formatter_class": HelpFormatter}
    names = ", ".join(REGISTRY)
    lst = sub.add_parser(
        "list",
        help="show which datasets are present and verified",
        description="show which datasets are present and verified",
        **kw,
    )
    get = sub.add_parser(
        "download",
        help="fetch datasets and verify their sha256",
        description=f"fetch datasets and verify their sha256 ({names})",
        **kw,
    )
    get.add_argument(
        "names",
        nargs="+",
        metavar="NAME",
        type=str.lower,
        choices=(*REGISTRY, "all"),
        help=f"'all' or any of: {names}",
    )
    get.add_argument(
        "--url",
        default=None,
        help=f"base URL of the files (default: ${URL_ENV}, else the public source)",
    )
    get.add_argument(
        "--retries",
        type=non_negative_int,
        default=4,
        help="tries after the first when a connection fails",
    )
    get.add_argument(
        "--timeout",
        type=positive_float,
        default=30.0,
        help="seconds to wait on a silent connection",
    )
    for q in (lst, get):
        q.add_argument(
            "--root_path",
            default=None,
            help="data directory (default: $TSVQ_DATA_DIR, else ~/.local/share/tsvq)",
        )


def run(args: argparse.Namespace) -> int:
    from tsvq.data.download import download_all, status_table

    root = Path(args.root_path) if args.root_path else default_data_dir()
    if args.action == "list":
        print(status_table(root, own_copies=not args.root_path))
    else:
        download_all(args.names, root, args.url, args.retries, args.timeout)
    return 0
