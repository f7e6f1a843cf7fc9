"""`tsvq.fit`: train a tokenizer from Python, on the series a user has, through `tsvq train`.

The keyword arguments are `tsvq train`'s flags, parsed by its own parser (the same defaults,
the same checks, the same idle-flag rules), and the run is `cli.train.train_on`, the command's
own code path: with `save_path` it writes the files and run record the command writes; without,
it trains in a temporary folder that is removed once the tokenizer is loaded.
"""

from __future__ import annotations

import re
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from tsvq.cli import rules
from tsvq.cli.flags import Parser
from tsvq.cli.train import add_args, train_on
from tsvq.data.convert import to_collection
from tsvq.data.gaps import Missing
from tsvq.errors import TsvqError

if TYPE_CHECKING:
    from tsvq.tokens.tokenizer import Tokenizer

# where the data comes from is the `data` argument itself
NOT_KEYWORDS = frozenset({"dset", "data_path", "root_path", "config", "save_path"})


_FLAG = re.compile(r"--(\w+)")


def _keywords(message: str) -> str:
    """A message of the command line in keywords: `lr=...`, not `--lr ...`."""
    return "tsvq.fit: " + _FLAG.sub(r"\1=", message)


class _KeywordParser(Parser):
    """`tsvq train`'s parser, answering in keywords."""

    def error(self, message: str) -> NoReturn:
        raise TsvqError(_keywords(message))


def fit(
    data: Any,
    save_path: str | Path | None = None,
    *,
    id_column: str | None = None,
    timestamp_column: str | None = None,
    columns: list[str] | None = None,
    exclude: list[str] | tuple[str, ...] = (),
    **flags: Any,
) -> Tokenizer:
    """Train a VQ-VAE tokenizer on `data`, as `tsvq train --dset custom` trains one.

    Parameters
    ----------
    data : array, DataFrame or list
        numpy [T] (one channel), [T, C] (one series) or [N, T, C] (N series); a wide
        DataFrame (dates as its index, in a column called timestamp / ds / date, or none); a
        long DataFrame with `id_column`; a list of arrays of any lengths ([T_i] or [T_i, C]);
        or a list of dicts with a `target` ([T], or [C, T]) and an optional `item_id`. Each
        series is split 70/10/20 in time on its own; no window spans two series.
    save_path : str or Path, optional
        Write the run under `{save_path}/custom/` as the command does (checkpoints, history,
        `_config.json`, `_run.json`); None trains in a temporary folder.
    id_column, timestamp_column : str, optional
        A long DataFrame's series id, and a DataFrame's time column.
    columns, exclude : list of str, optional
        A DataFrame's value columns to train on, or to leave out.
    **flags
        `tsvq train`'s flags by name (`n_epochs=10`, `context_points=96`, `revin=True`, ...),
        with its defaults for those not given.

    Returns
    -------
    Tokenizer
        The best model of the run (by validation loss), on the CPU.

    Raises
    ------
    TsvqError
        For data it cannot read and flags `tsvq train` refuses.
    """
    from tsvq.tokens.tokenizer import Tokenizer

    given = sorted(NOT_KEYWORDS & set(flags))
    if given:
        raise TsvqError(
            f"tsvq.fit: {given[0]}= is not a keyword of fit (the data is its first argument; "
            "save_path= is where the run goes)"
        )
    # gaps are kept for training to fill under missing="interpolate" (the parser checks the
    # value itself below)
    missing: Missing = "interpolate" if flags.get("missing") == "interpolate" else "error"
    series = to_collection(data, id_column, timestamp_column, columns, exclude, missing=missing)
    parser = _KeywordParser(prog="tsvq.fit")
    add_args(parser)
    with tempfile.TemporaryDirectory(prefix="tsvq-fit-") as tmp:
        out = str(save_path) if save_path is not None else tmp
        tokens = ["--dset", "custom", "--save_path", out, *_tokens(parser, flags)]
        args = parser.parse_args(tokens)
        args.command = "train"
        try:
            rules.check("train", args, set(flags))
        except TsvqError as exc:
            raise TsvqError(_keywords(str(exc))) from None
        paths = train_on(args, series, temporary=save_path is None)
        if not paths.best.is_file():
            raise TsvqError(f"tsvq.fit: no model was saved ({paths.best} is not there)")
        return Tokenizer.from_pretrained(paths.best)


def _tokens(parser: Parser, flags: dict[str, Any]) -> list[str]:
    """Command-line tokens for keyword flags (`lr=1e-3` -> `--lr=0.001`)."""
    actions = {a.dest: a for a in parser._actions if a.option_strings and a.dest != "help"}
    out: list[str] = []
    for name, value in flags.items():
        if name not in actions:
            raise TsvqError(
                f"tsvq.fit: unknown keyword {name}=; it takes tsvq train's flags "
                "(see tsvq train --help)"
            )
        action = actions[name]
        if action.nargs == 0:  # a switch (store_true)
            out += [action.option_strings[0]] if value else []
        elif value is not None:
            text = str(int(value)) if isinstance(value, bool) else str(value)
            out.append(f"{action.option_strings[0]}={text}")
    return out
