"""The one field checker: a value against its declared type, for every config and file door.

A dataclass declares each field's type with real annotations: `int`, `float`, `bool`, `str`,
`Literal[...]`, `X | None`, `tuple[X, ...]`, `list[X]`, `dict[str, X]`, a class such as
`torch.Tensor`, and `Annotated[T, Bound(...)]` for the values a field allows beyond its type
(`Positive`: an int >= 1). Two doors use the declarations:

- `check_fields(obj)`, in a config's `__post_init__`: a value its field does not allow is a
  `ConfigError` naming the field, `lr must be a finite number > 0, got 0.0`.
- `parse(cls, d, where)`, for a dict a file carries: only `cls`'s fields, each of its type,
  in one pass (`tsvq.model['embedding_dim'] is str, expected int`), then `cls(**d)`.

Types are read with `typing.get_type_hints`, never from their text, so a `Literal` choice is
checked like any other. A bool is no int here, and a float must be finite.
"""

from __future__ import annotations

import contextlib
import json
import math
import types
from collections.abc import Callable, Iterator
from dataclasses import MISSING, dataclass, fields, is_dataclass
from typing import (
    Annotated,
    Any,
    Literal,
    TypeVar,
    Union,
    cast,
    get_args,
    get_origin,
    get_type_hints,
)

from tsvq.errors import ConfigError, TsvqError, one_line

T = TypeVar("T")


@dataclass(frozen=True)
class Bound:
    """The values a field allows beyond its type, and how a message says so."""

    allowed: str  # "a positive integer"
    ok: Callable[[Any], bool] = lambda v: True


Positive = Annotated[int, Bound("a positive integer", lambda v: v >= 1)]
NonNegative = Annotated[int, Bound("an integer >= 0", lambda v: v >= 0)]


_HINTS: dict[type, dict[str, Any]] = {}


def hints(cls: type) -> dict[str, Any]:
    """A dataclass's fields and their declared types, annotations resolved (once per class)."""
    if cls not in _HINTS:
        resolved = get_type_hints(cls, include_extras=True)
        _HINTS[cls] = {f.name: resolved[f.name] for f in fields(cast(Any, cls))}
    return _HINTS[cls]


def _is_type(value: Any, hint: Any) -> bool:
    """Whether `value` is of type `hint`, bounds aside."""
    origin, args = get_origin(hint), get_args(hint)
    if origin is Annotated:
        return _is_type(value, args[0])
    if origin in (Union, types.UnionType):
        return any(_is_type(value, a) for a in args)
    if origin is Literal:
        return any(type(value) is type(a) and value == a for a in args)
    if hint is Any:
        return True
    if hint is None or hint is type(None):
        return value is None
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:
        real = isinstance(value, int | float) and not isinstance(value, bool)
        return real and math.isfinite(value)
    if origin in (list, tuple):
        items = args[0] if args else Any
        return isinstance(value, list | tuple) and all(_is_type(v, items) for v in value)
    if origin is dict:
        key, item = args or (Any, Any)
        return isinstance(value, dict) and all(
            _is_type(k, key) and _is_type(v, item) for k, v in value.items()
        )
    return isinstance(value, origin or hint)


def allows(value: Any, hint: Any) -> bool:
    """Whether `value` is of type `hint` and within every bound it declares."""
    origin, args = get_origin(hint), get_args(hint)
    if origin is Annotated:
        bounds = [b for b in args[1:] if isinstance(b, Bound)]
        return _is_type(value, args[0]) and all(b.ok(value) for b in bounds)
    if origin in (Union, types.UnionType):
        return any(allows(value, a) for a in args)
    return _is_type(value, hint)


def describe(hint: Any) -> str:
    """What `hint` allows, in words: "a positive integer or None", "one of ema, vq"."""
    origin, args = get_origin(hint), get_args(hint)
    if origin is Annotated:
        bounds = [b.allowed for b in args[1:] if isinstance(b, Bound)]
        return bounds[0] if bounds else describe(args[0])
    if origin in (Union, types.UnionType):
        return " or ".join(describe(a) for a in args)
    if origin is Literal:
        return f"one of {', '.join(map(str, args))}"
    words = {bool: "true or false", int: "an integer", float: "a finite number", str: "text"}
    if hint is None or hint is type(None):
        return "None"
    return words.get(hint, type_name(hint))


def type_name(hint: Any) -> str:
    """A declared type as its annotation reads: `int | None`, `float (finite)`, `a dict`."""
    origin, args = get_origin(hint), get_args(hint)
    if origin is Annotated:
        return type_name(args[0])
    if origin in (Union, types.UnionType):
        return " | ".join(type_name(a) for a in args)
    if origin is Literal:
        return f"one of {', '.join(map(repr, args))}"
    if hint is None or hint is type(None):
        return "None"
    if hint is float:
        return "float (finite)"
    if is_dataclass(hint) or origin is dict:
        return "a dict" if not args or args[1] is Any else f"a dict of {type_name(args[1])}"
    if origin in (list, tuple):
        return "a list" if not args or args[0] is Any else f"a list of {type_name(args[0])}"
    return getattr(hint, "__name__", str(hint))


def check_fields(obj: Any) -> None:
    """Refuse, naming the field, a value of dataclass `obj` its declared type does not allow."""
    for name, hint in hints(type(obj)).items():
        value = getattr(obj, name)
        if not allows(value, hint):
            raise ConfigError(name, f"{name} must be {describe(hint)}, got {value!r}")


def _got(value: Any, hint: Any) -> str:
    """A wrong value in a message: a number or a wrong choice as itself, else by its type."""
    choice = get_origin(hint) is Literal and isinstance(value, str | int)
    return repr(value) if isinstance(value, float) or choice else type(value).__name__


def parse(
    cls: type[T],
    d: Any,
    where: str,
    required: tuple[str, ...] = (),
    other_keys: bool = False,
) -> T:
    """`cls(**d)` for dataclass `cls`, after checking in one pass that `d` is a dict holding
    every field without a default and every field in `required`, no other key (unless
    `other_keys`: a dict of flags, say, of which `cls` names a few), and each value of its
    field's type. A nested dataclass is read from its dict the same way. `where` names the
    dict in messages and starts with the file's name; `cls` checks the values itself.
    """
    if not isinstance(d, dict):
        raise TsvqError(f"{where} is {type(d).__name__}, expected a dict")
    declared = hints(cls)
    needed = [
        f.name
        for f in fields(cast(Any, cls))
        if f.default is MISSING and f.default_factory is MISSING
    ]
    missing = [k for k in dict.fromkeys((*needed, *required)) if k not in d]
    if missing:
        raise TsvqError(f"{where} lacks {', '.join(map(repr, missing))}")
    unknown = sorted(set(d) - set(declared), key=repr)
    if unknown and not other_keys:
        raise TsvqError(f"{where} has unknown field(s) {', '.join(map(str, unknown))}")
    values = {}
    for name, hint in declared.items():
        if name not in d:
            continue
        value, inner = d[name], _dataclass(hint)
        if inner is not None and isinstance(value, dict):
            value = parse(inner, value, f"{where}[{name!r}]")
        elif not _is_type(value, hint):
            raise TsvqError(f"{where}[{name!r}] is {_got(value, hint)}, expected {type_name(hint)}")
        elif not allows(value, hint):
            raise TsvqError(f"{where}[{name!r}] is {value!r}, expected {describe(hint)}")
        values[name] = value
    with at(where):
        return cls(**values)


@contextlib.contextmanager
def at(where: str) -> Iterator[None]:
    """A refusal raised inside (a config or record refusing a value: ValueError, TypeError) as
    one `TsvqError` that names `where` (one that starts with it already passes as it is)."""
    try:
        yield
    except (TypeError, ValueError, OverflowError) as exc:
        if isinstance(exc, TsvqError) and str(exc).startswith(where):
            raise
        raise TsvqError(f"{where}: {exc}") from None


def _dataclass(hint: Any) -> type | None:
    """The dataclass `hint` declares (alone or `| None`), if any."""
    if get_origin(hint) is Annotated:
        hint = get_args(hint)[0]
    options = get_args(hint) if get_origin(hint) in (Union, types.UnionType) else (hint,)
    found = [a for a in options if isinstance(a, type) and is_dataclass(a)]
    return found[0] if found else None


# ---- nesting: a file's values are walked by recursive code, so their depth is bounded first --

MAX_DEPTH = 32  # tsvq's own files nest about 6 deep (tsvq['resume']['optimizer']['state'][0])


def depth_problem(value: Any, limit: int = MAX_DEPTH) -> str | None:
    """'nested more than LIMIT levels deep' when dicts, lists and tuples in `value` nest beyond
    `limit`, found without recursion (a file may nest deeper than Python's recursion limit,
    where every recursive walk of it, a digest, a repr, a comparison, would fail)."""
    stack = [(value, 0)]
    while stack:
        v, depth = stack.pop()
        if isinstance(v, dict | list | tuple):
            if depth >= limit:
                return f"is nested more than {limit} levels deep"
            stack.extend((x, depth + 1) for x in (v.values() if isinstance(v, dict) else v))
    return None


def check_depth(value: Any, where: str) -> None:
    """Refuse a structure nested beyond `MAX_DEPTH`, naming `where` it came from."""
    problem = depth_problem(value)
    if problem:
        raise TsvqError(f"{where} {problem}; no tsvq file nests so deep")


def parse_json(text: str, where: str) -> Any:
    """`json.loads(text)`, refused in one line naming `where` when it is not JSON or nests
    beyond `MAX_DEPTH` (json itself gives up, with a RecursionError, near 1,000 levels)."""
    try:
        value = json.loads(text)
    except RecursionError:
        raise TsvqError(f"{where} is nested deeper than Python's recursion limit") from None
    except ValueError as exc:
        raise TsvqError(f"cannot read {where}: not JSON ({one_line(exc)})") from None
    check_depth(value, where)
    return value
