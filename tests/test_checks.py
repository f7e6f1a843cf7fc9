"""The one field checker (`tsvq.checks`): every declared type, read from the real annotations.

trust.typed, which it replaces, matched annotation text, so a `Literal[...]` field went
unchecked; these rows hold what each kind of declaration allows and how a refusal reads.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

import pytest
import torch

from tsvq.checks import Bound, NonNegative, Positive, check_fields, describe, parse
from tsvq.errors import ConfigError, TsvqError


@dataclass(frozen=True)
class Inner:
    kind: Literal["a", "b"]
    size: Positive = 1


@dataclass(frozen=True)
class Outer:
    name: str
    count: int
    rate: float
    on: bool
    choice: Literal["x", "y"]
    maybe: int | None
    names: list[str]
    table: dict[str, float]
    inner: Inner
    weights: torch.Tensor
    bounded: Annotated[float, Bound("in [0, 1)", lambda v: 0 <= v < 1)] = 0.5
    extra: Any = None
    kept: list[int] = field(default_factory=list)


GOOD: dict[str, Any] = {
    "name": "n",
    "count": 3,
    "rate": 1,  # an int is a number
    "on": True,
    "choice": "x",
    "maybe": None,
    "names": ["a", "b"],
    "table": {"a": 1.5},
    "inner": {"kind": "a"},
    "weights": torch.ones(2),
}


def test_a_dict_of_every_declared_type_is_read() -> None:
    got = parse(Outer, GOOD, "f")
    assert got.inner == Inner("a", 1) and got.rate == 1 and got.kept == []


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("choice", "z", "f['choice'] is 'z', expected one of 'x', 'y'"),  # Literal, checked
        ("inner", {"kind": "c"}, "f['inner']['kind'] is 'c', expected one of 'a', 'b'"),
        ("inner", {"kind": "a", "size": 0}, "f['inner']['size'] is 0, expected a positive"),
        ("count", True, "f['count'] is bool, expected int"),  # a bool is no int
        ("count", 2.0, "f['count'] is 2.0, expected int"),  # a number shows as itself
        ("rate", float("nan"), "f['rate'] is nan, expected float (finite)"),
        ("rate", "1", "f['rate'] is str, expected float (finite)"),
        ("on", 1, "f['on'] is int, expected bool"),
        ("maybe", "3", "f['maybe'] is str, expected int | None"),
        ("names", ["a", 1], "f['names'] is list, expected a list of str"),
        ("table", {"a": "x"}, "f['table'] is dict, expected a dict of float (finite)"),
        ("weights", [1.0], "f['weights'] is list, expected Tensor"),
        ("bounded", 1.0, "f['bounded'] is 1.0, expected in [0, 1)"),
        ("inner", None, "f['inner'] is NoneType, expected a dict"),
    ],
)
def test_a_value_of_another_type_is_named(key: str, value: Any, message: str) -> None:
    with pytest.raises(TsvqError) as info:
        parse(Outer, {**GOOD, key: value}, "f")
    assert str(info.value).startswith(message), str(info.value)


def test_missing_unknown_and_required_fields() -> None:
    with pytest.raises(TsvqError, match=r"^f lacks 'count', 'rate'$"):
        parse(Outer, {k: v for k, v in GOOD.items() if k not in ("count", "rate")}, "f")
    with pytest.raises(TsvqError, match=r"^f has unknown field\(s\) junk$"):
        parse(Outer, {**GOOD, "junk": 1}, "f")
    assert parse(Outer, {**GOOD, "junk": 1}, "f", other_keys=True).name == "n"
    with pytest.raises(TsvqError, match=r"^f lacks 'bounded'$"):
        parse(Outer, GOOD, "f", required=("bounded",))
    with pytest.raises(TsvqError, match=r"^f is list, expected a dict$"):
        parse(Outer, [1], "f")


MaybePositive = Annotated[
    int | None, Bound("a positive integer or None", lambda v: v is None or v > 0)
]


@dataclass
class Config:
    n: Positive = 1
    k: NonNegative = 0
    mode: Literal["fast", "slow"] = "fast"
    cap: Annotated[
        int | None, Bound("a positive integer or None", lambda v: v is None or v > 0)
    ] = None

    def __post_init__(self) -> None:
        check_fields(self)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"n": 0}, "n must be a positive integer, got 0"),
        ({"k": -1}, "k must be an integer >= 0, got -1"),
        ({"mode": "medium"}, "mode must be one of fast, slow, got 'medium'"),
        ({"cap": 0}, "cap must be a positive integer or None, got 0"),
        ({"n": True}, "n must be a positive integer, got True"),
    ],
)
def test_a_config_refuses_by_field(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as info:
        Config(**changes)
    assert str(info.value) == message and info.value.field == next(iter(changes))


def test_describe_says_what_is_allowed() -> None:
    assert describe(Literal["vq", "ema"]) == "one of vq, ema"
    assert describe(Positive | None) == "a positive integer or None"
    assert describe(bool) == "true or false"
