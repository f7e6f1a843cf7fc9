"""README.zh-CN.md says what README.md says, compared mechanically; CI runs the README's tests."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.S | re.M)
FLAG = re.compile(r"(?<![\w-])--[a-z][a-z0-9_]*")
NUMBER = re.compile(r"(?<![\w.])\d+(?:,\d{3})*(?:\.\d+)?(?:e-?\d+)?")


def _prose(text: str) -> str:
    return FENCE.sub("", text)


def _headings(text: str) -> list[str]:
    """Heading levels in order, e.g. ['#', '##', '###', ...] (code blocks left out)."""
    return re.findall(r"^(#+) ", _prose(text), re.M)


def _code(text: str) -> list[tuple[str, str]]:
    """Code blocks as (language, code with comments removed: comments may be translated)."""
    blocks = []
    for lang, body in FENCE.findall(text):
        lines = [re.sub(r"(^|\s+)#.*$", "", line).rstrip() for line in body.splitlines()]
        blocks.append((lang, "\n".join(line for line in lines if line)))
    return blocks


@pytest.fixture(scope="module")
def en(repo: Path) -> str:
    return (repo / "README.md").read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def zh(repo: Path) -> str:
    return (repo / "README.zh-CN.md").read_text(encoding="utf-8")


def test_same_sections_in_the_same_order(en: str, zh: str) -> None:
    assert _headings(zh) == _headings(en)


def test_same_code_blocks(en: str, zh: str) -> None:
    en, zh = _code(en), _code(zh)
    assert len(zh) == len(en), f"{len(en)} code blocks in README.md, {len(zh)} in README.zh-CN.md"
    for i, (a, b) in enumerate(zip(en, zh, strict=True)):
        assert a == b, f"code block {i + 1} differs:\n{a[1][:300]}\n---\n{b[1][:300]}"


@pytest.mark.parametrize("what", ["flags", "numbers"])
def test_same_flags_and_figures(what: str, en: str, zh: str) -> None:
    pattern = FLAG if what == "flags" else NUMBER
    en, zh = set(pattern.findall(en)), set(pattern.findall(zh))
    assert en - zh == set(), f"{what} in README.md only: {sorted(en - zh)}"
    assert zh - en == set(), f"{what} in README.zh-CN.md only: {sorted(zh - en)}"


def test_ci_runs_the_readme_test_command(en: str, repo: Path) -> None:
    blocks = [body.strip() for lang, body in FENCE.findall(en) if lang == "bash"]
    test_command = next(b for b in blocks if "pytest" in b and "pip install" in b)
    ci = (repo / ".ci" / "run").read_text(encoding="utf-8").strip().splitlines()
    assert ci[-1] == test_command


def test_ci_runs_the_readme_commands_as_a_new_user(en: str, repo: Path) -> None:
    """.ci/run starts with .ci/new_user, which runs every step of the README's two commands in a
    copy of the checkout with no data directory beside it and an empty HOME (issue 25, item 11)."""
    blocks = [body.strip() for lang, body in FENCE.findall(en) if lang == "bash"]
    first = next(b for b in blocks if "vqvae_train.py" in b and "pip install" in b)
    tests = next(b for b in blocks if "pytest" in b and "pip install" in b)
    run = (repo / ".ci" / "run").read_text(encoding="utf-8")
    new_user = (repo / ".ci" / "new_user").read_text(encoding="utf-8")
    assert ".ci/new_user" in run.split("The README's test command")[0]
    # one install serves both commands: the tests' `-e ".[dev]"` holds the first's `-e .`
    steps = [s for s in (*first.split(" && "), *tests.split(" && ")) if not s.endswith("-e .")]
    for step in steps:
        assert step in new_user, step
    assert "-u TSVQ_DATA_DIR" in new_user and 'HOME="$home/home"' in new_user
