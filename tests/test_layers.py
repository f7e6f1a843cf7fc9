"""The command-line layer is the only one that knows argparse: every module below `tsvq.cli`
takes typed values, and none imports the command line."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "tsvq"
BELOW_CLI = sorted(p for p in SRC.rglob("*.py") if "cli" not in p.relative_to(SRC).parts
                   and p.name != "__main__.py")


def _imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            found.add("." * node.level + (node.module or ""))
    return found


def test_the_modules_below_are_found() -> None:
    names = {p.name for p in BELOW_CLI}
    assert {"train.py", "evaluate.py", "plot.py", "download.py", "tokenizer.py"} <= names


@pytest.mark.parametrize("path", BELOW_CLI, ids=lambda p: str(p.relative_to(SRC)))
def test_no_argparse_and_no_cli_below_the_command_line(path: Path) -> None:
    imports = _imports(path)
    assert "argparse" not in imports
    assert not any(m in (".cli", "tsvq.cli") or m.startswith((".cli.", "tsvq.cli."))
                   for m in imports), imports
