"""Property-based tests of flag validation: any text either parses to an allowed value or is
refused with one line naming the flag (exit 2); any model shape either builds and runs or is
refused with a message naming the value."""

from __future__ import annotations

import argparse
import contextlib
import io
import math

import pytest
import torch
from hypothesis import event, given, settings
from hypothesis import strategies as st

from tsvq import cli
from tsvq.cli import flags
from tsvq.model.vqvae import VQVAE, ModelConfig

PARSER = cli.build_parser()
SUBCOMMANDS = next(a for a in PARSER._actions if isinstance(a, argparse._SubParsersAction))


def _options(command: str, *path: str) -> list[argparse.Action]:
    parser = SUBCOMMANDS.choices[command]
    for name in path:  # nested subcommands, e.g. data download
        sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        parser = sub.choices[name]
    return [a for a in parser._actions if a.option_strings and a.nargs is None]


# (command words, flag) for every option that takes a value; new flags join automatically
OPTIONS = [(("train",), a) for a in _options("train")] + [
    (("data", "download", "illness"), a) for a in _options("data", "download")
]


def _rule(action: argparse.Action):  # -> (accepts(text) -> bool | None, expected(text))
    t = action.type
    if action.choices is not None:
        norm = t or (lambda s: s)
        return (lambda s: norm(s) in action.choices), norm
    if t in (flags.positive_int, flags.non_negative_int):
        low = 1 if t is flags.positive_int else 0
        return (lambda s: _as(int, s) is not None and _as(int, s) >= low), int
    if t in (flags.positive_float, flags.non_negative_float):
        strict = t is flags.positive_float

        def ok(s: str) -> bool:
            v = _as(float, s)
            return v is not None and math.isfinite(v) and (v > 0 if strict else v >= 0)

        return ok, float
    if t is flags.seed:
        return (lambda s: _as(int, s) is not None and 0 <= _as(int, s) <= flags.MAX_SEED), int
    if t is flags.flag01:
        return (lambda s: s in ("0", "1")), int
    return None, None  # free text (paths, names)


def _as(kind: type, text: str) -> object | None:
    try:
        return kind(text)
    except ValueError:
        return None


def _parse(argv: list[str]) -> tuple[int, object, str]:
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        try:
            return 0, PARSER.parse_args(argv), err.getvalue()
        except SystemExit as exc:
            return int(exc.code or 0), None, err.getvalue()


TEXT = st.one_of(
    st.text(max_size=12),
    st.integers(-(10**6), 10**6).map(str),
    st.floats().map(repr),
    st.sampled_from(["0", "1", "-0", "1e309", "nan", " 3", "3.0", "0x10", "1_0", "", "٣"]),
)


@pytest.mark.parametrize(
    ("words", "action"),
    OPTIONS,
    ids=[f"{' '.join(w[:2])} {a.option_strings[0]}" for w, a in OPTIONS],
)
@settings(max_examples=40, deadline=None)
@given(text=TEXT)
def test_any_text_parses_to_an_allowed_value_or_one_line(
    words: tuple[str, ...], action: argparse.Action, text: str
) -> None:
    flag = action.option_strings[0]
    rc, args, err = _parse([*words, f"{flag}={text}"])
    accepts, expected = _rule(action)
    if rc == 0:
        if accepts is not None:
            assert accepts(text), (flag, text)
            assert getattr(args, action.dest) == expected(text)
    else:
        assert rc == 2 and err.count("\n") == 1 and flag in err, err
        assert accepts is None or not accepts(text), (flag, text, err)


def test_every_typed_flag_has_a_rule() -> None:
    untyped = [a.option_strings[0] for _, a in OPTIONS if _rule(a)[0] is None]
    assert set(untyped) <= {
        "--root_path",
        "--data_path",
        "--target",
        "--save_path",
        "--model_id",
        "--url",
        "--log_dir",
        "--config",
        "--init",  # segments, random, or any tokenizer's name (checked when it is loaded)
        # a custom file's column names (free text, checked against the file's header)
        "--columns",
        "--exclude",
        "--id_column",
        "--timestamp_column",
    }, untyped


@st.composite
def shapes(draw: st.DrawFn) -> tuple[int, int, int, int]:
    """Half the time a shape built to be valid (factor 4 x 2^a x 3^b, divisors), else any."""
    if draw(st.booleans()):
        cf = draw(st.sampled_from([4, 8, 12, 16, 24, 32]))
        patch = cf * draw(st.integers(1, 3))
        return patch * draw(st.integers(1, 4)), patch, cf, 2 * draw(st.integers(1, 8))
    return (
        draw(st.integers(1, 256)),
        draw(st.integers(1, 64)),
        draw(st.integers(1, 40)),
        draw(st.integers(1, 24)),
    )


@settings(max_examples=60, deadline=None)
@given(shape=shapes())
def test_model_shapes_build_and_run_or_are_refused_by_name(
    shape: tuple[int, int, int, int],
) -> None:
    context_points, patch_size, compression_factor, block_hidden_size = shape
    fields = {
        "context_points": context_points,
        "patch_size": patch_size,
        "compression_factor": compression_factor,
        "block_hidden_size": block_hidden_size,
    }
    try:  # a ModelConfig checks itself when it is made
        cfg = ModelConfig(
            **fields, embedding_dim=4, num_embeddings=8, res_hidden_size=4, num_residual_layers=1
        )
    except ValueError as exc:
        message = str(exc)
        assert "\n" not in message
        assert any(
            f"{name}={value}" in message or f"got {value}" in message
            for name, value in fields.items()
        ), message
        event("refused")
        return
    event("built and ran")
    model = VQVAE(cfg)
    with torch.no_grad():
        out = model(torch.randn(2, context_points))
    assert out.recon.shape == (2, context_points)
    assert out.codes.shape == (2, context_points // compression_factor)
