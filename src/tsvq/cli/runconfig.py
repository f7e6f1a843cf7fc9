"""`tsvq train --config FILE`: repeat a run from its saved record; command-line flags override.

FILE is a run's checkpoint (`.pth`, read with `checkpoint.load_run`, so the original script's
checkpoints work too), its `_run.json` (tsvq's full record), its `_config.json` (the original's
nine-key dict: the `_run.json` beside it is read when there is one), a flat JSON object of
train flags, or the name of a recipe shipped with tsvq (`--config fast`: tsvq/recipes/fast.json,
the training we recommend when time is short; see the README). The flags become command-line
tokens placed before the user's own, so they pass through the same parsing and checks as typed
flags, and a flag given on the command line wins.

A tsvq record names its data by resolved path plus sha256: the repeated run reads that file
(a relative --data_path or --root_path as typed would resolve against another working folder)
and, unless the command line names the data itself, refuses it if its bytes changed.
"""

from __future__ import annotations

import argparse
import math
from dataclasses import asdict
from pathlib import Path
from typing import Any

from tsvq.checks import parse, parse_json
from tsvq.errors import TsvqError

# In a record, but not a setting to repeat: the command, the record itself, resuming, and what
# follows from other settings (the channel count from the data, the original's dset_finetune
# from --dset).
NOT_REPEATED = frozenset({"command", "handler", "config", "resume", "n_channels", "dset_finetune"})
RECIPES = Path(__file__).resolve().parents[1] / "recipes"  # `--config NAME`: NAME.json there


def recipe_names() -> list[str]:
    """The recipes shipped with tsvq, by name."""
    return sorted(p.stem for p in RECIPES.glob("*.json"))


def resolve(config: str) -> Path:
    """The file `--config` names: a path, else a shipped recipe of that name."""
    path = Path(config)
    if not path.exists() and config in recipe_names():
        return RECIPES / f"{config}.json"
    return path


def read_args(path: Path) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """The flags a run record holds, as a dict, and the record's data section (None for a
    record without one: the original's files, a flat object of flags); one clear error for
    anything else."""
    if not path.is_file():
        raise TsvqError(
            f"--config {path}: no such file (give a run's .pth, _run.json or _config.json, "
            f"or a recipe: {', '.join(recipe_names())})"
        )
    from tsvq.run import checkpoint, record
    from tsvq.run.totem_names import OriginalConfig

    if path.suffix == ".pth":
        run = checkpoint.load_run(path)
        return dict(run.args), run.data.to_dict() if run.origin == "tsvq" else None
    bare_config = path.name.endswith("_config.json")  # the original's nine keys
    if bare_config:  # tsvq's full record beside it says more
        beside = path.with_name(path.name.removesuffix("_config.json") + "_run.json")
        path, bare_config = (beside, False) if beside.is_file() else (path, True)
    saved = _json(path)
    if bare_config:  # the original's nine keys, as `_config.json`'s schema has them
        return asdict(parse(OriginalConfig, saved, f"--config {path}")), None
    if saved.get("format") == record.FORMAT:  # tsvq's _run.json
        if saved.get("format_version") != record.FORMAT_VERSION:
            raise TsvqError(
                f"--config {path}: run-record version "
                f"{saved.get('format_version')!r}; this tsvq reads "
                f"{record.FORMAT_VERSION}"
            )
        args, data = saved.get("args"), saved.get("data")
    else:
        args, data = saved.get("args", saved), None
    if not isinstance(args, dict) or not args:
        raise TsvqError(f"--config {path}: its 'args' is not an object of train flags")
    return args, data if isinstance(data, dict) else None


def recorded_data(args: dict[str, Any], data: dict[str, Any] | None) -> str | None:
    """Point `args` at the file the record read (its resolved path); the sha256 it had.

    A custom dataset's --data_path becomes the resolved file (and --root_path goes: the path is
    absolute); a registered dataset's --root_path, if one was typed, the folder that held it.
    """
    if not data or not isinstance(data.get("data_path"), str):
        return None
    from tsvq.data.registry import CUSTOM, REGISTRY

    read = Path(data["data_path"])
    if not read.is_absolute():
        return None
    dset = args.get("dset")
    if dset == CUSTOM:
        args.update(data_path=str(read), root_path=None)
    elif dset in REGISTRY and args.get("root_path"):
        file = Path(REGISTRY[dset].file)
        if read.parts[-len(file.parts) :] == file.parts:
            args["root_path"] = str(read.parents[len(file.parts) - 1])
    sha256 = data.get("sha256")
    return sha256 if isinstance(sha256, str) else None


def _json(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise TsvqError(f"--config {path}: not a JSON run record ({exc})") from None
    record = parse_json(text, f"--config {path}")
    if not isinstance(record, dict):
        raise TsvqError(
            f"--config {path}: a run record is a JSON object, got {type(record).__name__}"
        )
    return record


def config_tokens(path: str, parser: argparse.ArgumentParser) -> tuple[list[str], str | None]:
    """Command-line tokens (`--lr 0.0001 ...`) for the train flags saved in `path` (or in the
    shipped recipe it names), and the sha256 its data file had (None when the record does not
    say)."""
    p = resolve(path)
    saved, data = read_args(p)
    sha256 = recorded_data(saved, data)
    actions = {a.dest: a for a in parser._actions if a.option_strings and a.dest != "help"}
    unknown = sorted(k for k in saved if k not in actions and k not in NOT_REPEATED)
    if unknown:
        raise TsvqError(
            f"--config {p}: unknown field(s) {', '.join(map(repr, unknown[:8]))}; "
            "a run record holds tsvq train flags (see tsvq train --help)"
        )
    tokens: list[str] = []
    for dest, value in saved.items():
        if dest in NOT_REPEATED or value is None:
            continue
        action = actions[dest]
        flag = action.option_strings[0]
        if action.nargs == 0:  # a switch (store_true)
            if not isinstance(value, bool):
                raise TsvqError(f"--config {p}: {dest} must be true or false, got {value!r}")
            tokens += [flag] if value else []
            continue
        tokens.append(f"{flag}={_text(p, dest, value)}")  # '=': a value may start with '-'
    return tokens, sha256


def _text(path: Path, dest: str, value: Any) -> str:
    if isinstance(value, bool):
        return str(int(value))  # --revin / --amp take 0 or 1
    if isinstance(value, int | str):
        return str(value)
    if isinstance(value, float) and math.isfinite(value):
        return repr(value)
    raise TsvqError(f"--config {path}: {dest} holds {value!r}; expected a number or text")
