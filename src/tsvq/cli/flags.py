"""What every command's flags share: the parser that answers in one line, the help format, and
the typed parsers that turn a flag's text into a checked value (or one line saying why not)."""

from __future__ import annotations

import argparse
import sys
from dataclasses import fields
from typing import Any, NoReturn

from tsvq.config import DEVICES, MAX_SEED
from tsvq.errors import ConfigError, TsvqError

# --checkpoint (and a forecaster's --tokenizer), in every command: how a name is resolved
CHECKPOINT_HELP = (
    "a tokenizer, resolved in this order: a name shipped inside tsvq (tsvq/ett; tsvq "
    "pretrained lists them, offline), a local .pth written by tsvq train or the original "
    "vqvae_train.py or a folder written by tsvq export, then a Hugging Face Hub repo id "
    "(names under tsvq/ are never looked up on the Hub)"
)


class Parser(argparse.ArgumentParser):
    """argparse that reports a bad flag in one line and exits with status 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message}\n")

    def parse_known_args(self, args=None, namespace=None):  # noqa: ANN001, ANN201 - argparse's
        # argparse drops a value of "--" ("--lr=--") and keeps the default: refuse it here, so
        # every way in (main, tests, a user's own parse_args) says so
        for a in sys.argv[1:] if args is None else args:
            if isinstance(a, str) and a.startswith("--") and a.endswith("=--"):
                self.error(f"argument {a.split('=', 1)[0]}: expected a value, got '--'")
        return super().parse_known_args(args, namespace)


def positive_int(text: str) -> int:
    return int_at_least(text, 1)


def non_negative_int(text: str) -> int:
    return int_at_least(text, 0)


def int_at_least(text: str, low: int) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if value < low:
        raise argparse.ArgumentTypeError(f"must be >= {low}, got {value}")
    return value


def seed(text: str) -> int:
    value = int_at_least(text, 0)
    if value > MAX_SEED:
        raise argparse.ArgumentTypeError(f"must be at most {MAX_SEED} (2^32 - 1), got {value}")
    return value


def positive_float(text: str) -> float:
    value = finite_float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
    return value


def non_negative_float(text: str) -> float:
    value = finite_float(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {text}")
    return value


def finite_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if value != value or value in (float("inf"), float("-inf")):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
    return value


def flag01(text: str) -> int:
    if text not in ("0", "1"):
        raise argparse.ArgumentTypeError(f"expected 0 or 1, got {text!r}")
    return int(text)


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Help that shows every option's default, and keeps a description's line breaks."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        if (
            "%(default)" in text
            or not action.option_strings
            or action.required
            # by identity: a default of 0 or 0.0 equals False, and is shown
            or any(action.default is d for d in (None, False, argparse.SUPPRESS))
        ):
            return text
        return f"{text} (default: %(default)s)" if text else "default: %(default)s"


def comma_list(text: str) -> list[str]:
    """ "a,b,,c" -> ["a", "b", "c"]."""
    return [item for item in text.split(",") if item]


def add_device_arg(p: argparse.ArgumentParser | argparse._ArgumentGroup) -> None:
    """`--device`, with one default for every command: a GPU when there is one."""
    p.add_argument(
        "--device",
        default="auto",
        choices=DEVICES,
        help="where to compute: auto picks CUDA when a GPU is available, else the CPU",
    )


def from_flags(cls: type, args: argparse.Namespace, **values: Any) -> Any:
    """A config dataclass from the flags of the same names (`values` override); a value it
    refuses is named by its flag."""
    given = {f.name: getattr(args, f.name) for f in fields(cls) if hasattr(args, f.name)}
    try:
        return cls(**{**given, **values})
    except ConfigError as exc:
        raise TsvqError(f"--{exc}" if exc.field else str(exc)) from None
