"""Flags that would have no effect in the combination given are refused, not ignored.

A rule names a flag, the commands it applies to, and a test on the parsed flags that returns
why the flag does nothing there (or None). Only flags the user typed are checked: a default
that does nothing is no surprise.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from tsvq.data.registry import REGISTRY
from tsvq.errors import TsvqError


@dataclass(frozen=True)
class Rule:
    flag: str  # the dest, without dashes
    commands: tuple[str, ...]
    idle: Callable[[argparse.Namespace], str | None]  # why it has no effect, or None


def _named_dataset(a: argparse.Namespace) -> str | None:
    dset = getattr(a, "dset", None)
    if dset is not None and dset != "custom":
        return (
            f"with --dset {dset}, which is read from the data directory (--root_path); "
            "--data_path is for --dset custom"
        )
    return None


def _target_unused(a: argparse.Namespace) -> str | None:
    """--target picks the column of S and MS, and under M only orders the columns of the
    datasets whose loader moves the target last (all but ETT's)."""
    if a.features == "M" and a.dset in REGISTRY and not REGISTRY[a.dset].target_last:
        return (
            f"with --features M on {a.dset}, which uses every column in the file's order "
            "(--target picks the column of --features S and MS)"
        )
    return None


def _registered(flag: str) -> Callable[[argparse.Namespace], str | None]:
    def idle(a: argparse.Namespace) -> str | None:
        if a.dset != "custom":
            return (
                f"with --dset {a.dset}, whose file the registry describes; --{flag} reads a "
                "file of --dset custom"
            )
        return None

    return idle


RULES: tuple[Rule, ...] = (
    Rule("data_path", ("train", "encode", "eval", "plot"), _named_dataset),
    *(
        Rule(flag, ("train",), _registered(flag))
        for flag in ("columns", "exclude", "id_column", "timestamp_column")
    ),
    Rule(
        "ema_decay",
        ("train",),
        lambda a: (
            "with --quantizer vq (its codebook is learned by "
            "gradient; --ema_decay is for --quantizer ema)"
            if a.quantizer == "vq"
            else None
        ),
    ),
    Rule(
        "channel",
        ("train",),
        lambda a: (
            "with --features S, which selects the one target column" if a.features == "S" else None
        ),
    ),
    Rule(
        "dead_code_threshold",
        ("train",),
        lambda a: (
            "with --dead_code_restart 0, which turns the restarts it tunes off"
            if a.dead_code_restart == 0
            else None
        ),
    ),
    Rule("target", ("train",), _target_unused),
    Rule(
        "patience",
        ("train",),
        lambda a: (
            f"with --n_epochs {a.n_epochs}: early stopping needs more epochs than --patience"
            if a.patience >= a.n_epochs
            else None
        ),
    ),
)


def given_options(parser: argparse.ArgumentParser, argv: Sequence[str]) -> set[str]:
    """The dests of the options `argv` sets explicitly (parsing it again without defaults)."""
    for p in _parsers(parser):
        for action in p._actions:
            if action.option_strings:
                action.default = argparse.SUPPRESS
        p._defaults.clear()
    return set(vars(parser.parse_args(list(argv))))


def _parsers(parser: argparse.ArgumentParser) -> list[argparse.ArgumentParser]:
    found = [parser]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                found += _parsers(sub)
    return found


def check(command: str, args: argparse.Namespace, given: set[str]) -> None:
    """Raise `TsvqError` for the first typed flag that has no effect with the others."""
    for rule in RULES:
        if command in rule.commands and rule.flag in given:
            why = rule.idle(args)
            if why:
                raise TsvqError(f"--{rule.flag} has no effect {why}; leave it out")
