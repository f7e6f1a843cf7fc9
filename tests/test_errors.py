"""tsvq.errors: one line of an exception for the command line, whatever the exception says."""

from __future__ import annotations

import pytest

from tsvq.errors import TsvqError, one_line

CASES = {
    "one line": (TsvqError("lr must be positive, got 0"), "lr must be positive, got 0"),
    "the first of several": (OSError("cannot read x.csv\nsecond\nthird"), "cannot read x.csv"),
    "a heading keeps its first item": (
        RuntimeError("Error(s) in loading state_dict:\n\n  Missing key(s): w\n  other"),
        "Error(s) in loading state_dict: Missing key(s): w",
    ),
    "surrounding blank lines": (ValueError("\n\n  padded  \n"), "padded"),
    "nothing said": (KeyError(), "KeyError"),
    "only whitespace": (RuntimeError(" \n "), "RuntimeError"),
}


@pytest.mark.parametrize("name", list(CASES))
def test_one_line(name: str) -> None:
    exc, expected = CASES[name]
    assert one_line(exc) == expected


def test_one_line_is_cut_at_the_limit() -> None:
    assert one_line(ValueError("x" * 500)) == "x" * 300
    assert one_line(ValueError("abcdef"), limit=3) == "abc"
