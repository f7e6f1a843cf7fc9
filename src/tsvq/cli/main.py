"""`tsvq COMMAND`: the parser of every command, and `main`, which turns every user error into one
line on stderr and exit status 2 (1 for a run that failed, 130/143 for an interrupted one).

Each command lives in a module of this package with `add_args(parser)` and `run(args)`; a
command's module (and torch, which most need) is imported only when that command runs.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import warnings
from collections.abc import Callable, Sequence
from typing import NoReturn

from tsvq.cli import rules
from tsvq.cli.flags import HelpFormatter, Parser
from tsvq.errors import TsvqError
from tsvq.runtime.signals import command_signals, interrupted_status

# name -> (help, "module:add_args_function", "module:handler_function"); modules load lazily
COMMANDS: dict[str, tuple[str, str, str]] = {
    "train": (
        "train a VQ-VAE tokenizer (the specification's trainer)",
        "tsvq.cli.train:add_args",
        "tsvq.cli.train:run",
    ),
    "eval": (
        "reconstruction error and codebook usage of a checkpoint over a split",
        "tsvq.cli.eval:add_args",
        "tsvq.cli.eval:run",
    ),
    "plot": (
        "PNG plots: loss curves, reconstructions, code usage",
        "tsvq.cli.plot:add_args",
        "tsvq.cli.plot:run",
    ),
    "data": (
        "list the benchmark datasets, or download them and verify their sha256",
        "tsvq.cli.data:add_args",
        "tsvq.cli.data:run",
    ),
    "encode": (
        "encode a split of a dataset into codes (.npz) with a trained tokenizer",
        "tsvq.cli.tokens:add_encode_args",
        "tsvq.cli.tokens:run_encode",
    ),
    "decode": (
        "decode a tokens file back into windows in original units (.npz)",
        "tsvq.cli.tokens:add_decode_args",
        "tsvq.cli.tokens:run_decode",
    ),
    "export": (
        "export a checkpoint as a Hugging Face style folder (config.json, model.safetensors)",
        "tsvq.cli.tokens:add_export_args",
        "tsvq.cli.tokens:run_export",
    ),
    "pretrained": (
        "list the tokenizers that ship inside tsvq (load one by name: --checkpoint tsvq/ett)",
        "tsvq.cli.pretrained:add_args",
        "tsvq.cli.pretrained:run",
    ),
    "forecast": (
        "a forecaster on a frozen tokenizer's codes: train, eval (test MSE/MAE), predict",
        "tsvq.cli.forecast:add_args",
        "tsvq.cli.forecast:run",
    ),
}


def _resolve(ref: str) -> Callable:
    module, _, attr = ref.partition(":")
    return getattr(importlib.import_module(module), attr)


# What each command reads and writes, shown under its --help.
READS_WRITES: dict[str, str] = {
    "train": "reads:  the --dset CSV from --root_path, else $TSVQ_DATA_DIR, else "
    "~/.local/share/tsvq,\n        else (ETT only) the copy inside tsvq\n"
    "writes: {save_path}/{dset}/{model_name}.pth (best), _last.pth (for --resume),\n"
    "        (custom: {save_path}/custom/{stem}/vqvae_{stem}_cw...),\n"
    "        _history.csv (one row per epoch), _config.json (the original's), _run.json\n"
    "        (tsvq's record of the run, for --config);\n"
    "        with --log_dir, TensorBoard event files in {log_dir}/{model_name}/",
    "eval": "reads:  the checkpoint and the dataset it was trained on (or --dset: another)\n"
    "writes: nothing; prints a table (or --json) on stdout",
    "plot": "reads:  the checkpoint, its _history.csv and its dataset\n"
    "writes: loss_curves.png, reconstructions.png, code_usage.png into --out",
    "data": "reads:  the data directory; the network for download\n"
    "writes: verified CSV files into the data directory (download)",
    "encode": "reads:  a checkpoint or exported folder and a dataset split\n"
    "writes: --out, an .npz of codes and the statistics decode needs",
    "decode": "reads:  a checkpoint or exported folder and an .npz from tsvq encode\n"
    "writes: --out, an .npz of windows in original units",
    "export": "reads:  a checkpoint\n"
    "writes: the --out folder: config.json, model.safetensors, README.md",
    "pretrained": "reads:  the tokenizers inside tsvq (tsvq/tokens/shipped/), checked against\n"
    "        its manifest's sha256\n"
    "writes: nothing; prints a table (or --json) on stdout",
    "forecast": "reads:  a tokenizer and a dataset (train); a forecaster, its tokenizer and data\n"
    "writes: train: {save_path}/{dset}/forecaster_*.pth, _last.pth, _history.csv;\n"
    "        eval: nothing (a table or --json); predict: the --out CSV",
}


def build_parser(only: str | None = "*", prog: str | None = None) -> Parser:
    """The `tsvq` parser; `only` names the one command whose flags are added ("*": all, None:
    none). Adding a command's flags imports its module (torch for most), so `tsvq --help`,
    `tsvq --version` and a mistyped command add none and answer at once. `prog` names that
    command in its usage and errors (the specification's `vqvae_train.py` for train)."""
    from tsvq import __version__

    parser = Parser(
        prog="tsvq", description="VQ-VAE tokenizers for time series", formatter_class=HelpFormatter
    )
    parser.add_argument("--version", action="version", version=f"tsvq {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser)
    for name, (help_text, add, handler) in COMMANDS.items():
        description = f"{help_text}\n\n{READS_WRITES[name]}" if name in READS_WRITES else help_text
        p = sub.add_parser(
            name, help=help_text, description=description, formatter_class=HelpFormatter
        )
        if prog and name == only:  # the specification's script: its own name in usage and errors
            p.prog = prog
        if only in ("*", name):
            _resolve(add)(p)
        p.set_defaults(handler=handler)
    return parser


# the flags that name a run's data: typed with --config, the command line names the data itself
DATA_FLAGS = frozenset({"dset", "root_path", "data_path"})


def _with_config(parser: Parser, argv: list[str], config: str) -> argparse.Namespace:
    """Parse again with the record's flags first, so the command line's own come later and win.

    The namespace's `recorded_sha256` is the digest the record's data file must still have,
    unless the command line names the data itself (None).
    """
    from tsvq.cli.runconfig import config_tokens
    from tsvq.cli.train import add_args as add_train_args

    class RecordParser(Parser):  # a bad saved value names the file it came from
        def error(self, message: str) -> NoReturn:
            raise TsvqError(f"--config {config}: {message}")

    train = RecordParser(prog="tsvq train")
    add_train_args(train)
    tokens, sha256 = config_tokens(config, train)
    train.parse_args(tokens)  # the saved values alone pass every check typed flags pass
    i = argv.index("train")
    args = parser.parse_args([*argv[: i + 1], *tokens, *argv[i + 1 :]])
    typed = rules.given_options(build_parser("train"), argv)
    args.recorded_sha256 = None if typed & DATA_FLAGS else sha256
    return args


def main(argv: Sequence[str] | None = None, prog: str | None = None) -> int:
    """Entry point of the `tsvq` command; returns the exit status. `prog`: what the command is
    called in its usage and error lines (default `tsvq COMMAND`)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    command = next((a for a in argv if not a.startswith("-")), None)
    parser = build_parser(command if command in COMMANDS else None, prog)
    args = parser.parse_args(argv)
    name = prog or f"tsvq {args.command}"
    # warnings from numpy and torch are not the user's to read: tsvq checks what matters itself
    with command_signals(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            if getattr(args, "config", None):
                args = _with_config(parser, argv, args.config)
            rules.check(args.command, args, rules.given_options(build_parser(args.command), argv))
            return _resolve(args.handler)(args)
        except TsvqError as exc:
            if not getattr(exc, "quiet", False):  # said once, by process 0 of a distributed run
                print(f"{name}: error: {exc}", file=sys.stderr)
            return getattr(exc, "exit_status", 2)
        except KeyboardInterrupt as exc:
            note = f": {exc}" if str(exc) else ""
            print(f"{name}: interrupted{note}", file=sys.stderr)
            return interrupted_status()
        except BrokenPipeError:
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            return 1


if __name__ == "__main__":
    sys.exit(main())
