"""Help a new user reads: every default shown, a version, and answers without loading torch."""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import pytest

from tsvq import __version__
from tsvq.cli import COMMANDS, build_parser


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    found = {}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                found[name] = sub
                found.update({f"{name} {k}": v for k, v in _subparsers(sub).items()})
    return found


@pytest.mark.parametrize("command", sorted(_subparsers(build_parser())))
def test_every_default_is_in_the_help(command: str) -> None:
    sub = _subparsers(build_parser())[command]
    text = sub.format_help()
    for action in sub._actions:
        if not action.option_strings or action.dest == "help":
            continue
        assert action.help, f"{command} {action.option_strings[0]} has no help text"
        if action.default is not None and action.default is not False and not action.required:
            shown = sub._get_formatter()._get_help_string(action) % vars(action)
            assert "default" in shown and str(action.default) in shown, shown
            assert shown.count("default") == 1, f"a default said twice: {shown}"
    assert "reads:" in text and "writes:" in text or " " in command  # `data list` is a leaf


def test_version(run_cli) -> None:
    rc, out, _err = run_cli(["--version"])
    assert rc == 0 and out.strip() == f"tsvq {__version__}"


@pytest.mark.parametrize("argv", [["--help"], ["--version"], ["nope"]])
def test_top_level_answers_without_torch(argv: list[str], repo: Path) -> None:
    code = (
        "import sys\nfrom tsvq.cli import main\ntry:\n    main(sys.argv[1:])\n"
        "except SystemExit:\n    pass\nprint('torch loaded' if 'torch' in sys.modules "
        "else 'no torch')"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, *argv],
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(repo / "src")},
        timeout=60,
    )
    assert done.stdout.strip().endswith("no torch"), done.stdout + done.stderr
    if argv == ["--help"]:
        assert all(name in done.stdout for name in COMMANDS)
