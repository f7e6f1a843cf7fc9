"""Shapes a user has (issue 21, item 4): a 1-D series is one channel and decodes to 1-D; `pad=`
codes lengths that are not whole patches, marks the padded tokens and decodes the original
length; a list of series of different lengths encodes to a list in shared passes. The models
are trained here on ETTh1 (`tiny_run`, and `tiny_run_revin0` without RevIN), the series are
ETTh1's."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from tsvq.errors import TsvqError
from tsvq.tokens import ragged
from tsvq.tokens.passes import VALUES_PER_PASS
from tsvq.tokens.tokenizer import Tokenizer

P, CF = 16, 4  # patch_size, compression_factor: a token is 4 steps, a patch 4 tokens


@pytest.fixture(scope="module")
def tok(tiny_run: Path) -> Tokenizer:
    return Tokenizer.from_pretrained(tiny_run)


@pytest.fixture(scope="module")
def plain_tok(tiny_run_revin0: Path) -> Tokenizer:
    """Trained without RevIN (`--revin 0`)."""
    return Tokenizer.from_pretrained(tiny_run_revin0)


@pytest.fixture(scope="module")
def series(data_dir: Path) -> np.ndarray:
    """ETTh1's first 2,000 rows: [2000, 7] float32 in original units."""
    table = pd.read_csv(data_dir / "ETT-small" / "ETTh1.csv", nrows=2000)
    return table.iloc[:, 1:].to_numpy(np.float32)


def test_a_1d_series_is_one_channel_and_decodes_to_1d(tok: Tokenizer, series: np.ndarray) -> None:
    ot = series[:96, 6]
    one = tok.encode(ot, columns=["OT"])
    two = tok.encode(ot[:, None], columns=["OT"])
    assert one.codes.shape == (1, 1, 24) and one.input_1d and not two.input_1d
    np.testing.assert_array_equal(one.codes, two.codes)
    back = tok.decode(one)
    assert back.shape == (96,)
    np.testing.assert_array_equal(back, tok.decode(two)[0, :, 0])


@pytest.mark.parametrize("pad", ["edge", "reflect", "zero"])
@pytest.mark.parametrize("t", [150, 5, 1])
def test_padding_codes_the_real_steps_as_whole_patches_would(
    tok: Tokenizer, series: np.ndarray, pad: str, t: int
) -> None:
    x = series[:t]
    enc = tok.encode(x, pad=pad)
    t_pad = -(-t // P) * P
    assert enc.codes.shape == (1, 7, t_pad // CF) and enc.length == t
    # the mask is True exactly for the tokens whose 4 steps hold a padded one
    expected = (np.arange(t_pad // CF) + 1) * CF > t
    np.testing.assert_array_equal(enc.mask, np.broadcast_to(expected, enc.mask.shape))
    # the statistics are the real steps' own (the scaler undone)
    scaled = (x - tok.scaler.shift) / tok.scaler.scale
    np.testing.assert_allclose(enc.mean[0], scaled.mean(axis=0), rtol=1e-5, atol=1e-5)
    # the same codes as the window padded by hand (numpy's modes; zero is the window's
    # mean in original units, 0 after RevIN) and coded with the real steps' statistics
    mode = {"edge": "edge", "reflect": "reflect", "zero": "mean"}[pad]
    by_hand = np.pad(scaled, ((0, t_pad - t), (0, 0)), mode=mode) * tok.scaler.scale
    by_hand += tok.scaler.shift
    again = tok.encode(by_hand, mean=enc.mean, std=enc.std)
    np.testing.assert_array_equal(again.codes, enc.codes)
    back = tok.decode(enc)
    assert back.shape == (1, t, 7)
    np.testing.assert_allclose(back, tok.decode(again)[:, :t], rtol=1e-5, atol=1e-4)


def test_padding_on_a_model_without_revin(plain_tok: Tokenizer, series: np.ndarray) -> None:
    """Without RevIN patches are coded on their own: the whole patches' codes are those of the
    series cut to them, and zeros pad with the training mean (0 in the model's space)."""
    x = series[:150]
    enc = plain_tok.encode(x, pad="zero")
    np.testing.assert_array_equal(enc.codes[..., :36], plain_tok.encode(x[:144]).codes)
    tail = np.concatenate([x, np.broadcast_to(plain_tok.scaler.shift, (10, 7))])
    np.testing.assert_array_equal(enc.codes, plain_tok.encode(tail).codes)
    np.testing.assert_array_equal(enc.mean, 0) and np.testing.assert_array_equal(enc.std, 1)
    assert plain_tok.decode(enc).shape == (1, 150, 7)


def test_padding_and_gaps_share_the_mask(tok: Tokenizer, series: np.ndarray) -> None:
    x = series[:150].copy()
    x[10, 1] = np.nan  # step 10: token 2 of HULL
    enc = tok.encode(x, pad="edge", missing="interpolate")
    padded = {(c, j) for c in range(7) for j in (37, 38, 39)}  # steps 148..159 of 150
    assert set(map(tuple, np.argwhere(enc.mask[0]).tolist())) == padded | {(1, 2)}


def test_whole_patches_are_not_padded(tok: Tokenizer, series: np.ndarray) -> None:
    enc = tok.encode(series[:96], pad="edge")
    assert enc.length is None and enc.mask is None
    np.testing.assert_array_equal(enc.codes, tok.encode(series[:96]).codes)


def test_a_list_of_series_encodes_as_each_alone(tok: Tokenizer, series: np.ndarray) -> None:
    xs = [
        series[:150],
        series[200:296],
        torch.from_numpy(series[300:305].copy()),  # shorter than a patch, a tensor
        series[400:1401],
    ]
    encs = tok.encode(xs, pad="reflect")
    assert [e.codes.shape for e in encs] == [(1, 7, 40), (1, 7, 24), (1, 7, 4), (1, 7, 252)]
    assert [e.length for e in encs] == [150, None, 5, 1001]
    backs = tok.decode(encs)
    for x, enc, back in zip(xs, encs, backs, strict=True):
        alone = tok.encode(x, pad="reflect")
        np.testing.assert_array_equal(enc.codes, alone.codes)
        np.testing.assert_allclose(enc.mean, alone.mean, rtol=1e-6)
        np.testing.assert_allclose(enc.std, alone.std, rtol=1e-6)
        assert (enc.mask is None) == (alone.mask is None)
        if enc.mask is not None:
            np.testing.assert_array_equal(enc.mask, alone.mask)
        assert back.shape == (1, len(x), 7)
        np.testing.assert_allclose(back, tok.decode(alone), rtol=1e-5, atol=1e-4)


def test_a_list_of_1d_series_with_gaps_and_statistics(tok: Tokenizer, series: np.ndarray) -> None:
    xs = [series[:40, 6].copy(), series[:77, 6].copy()]
    xs[1][50] = np.nan
    mean, std = np.array([[1.0], [2.0]]), np.array([[3.0], [4.0]])
    encs = tok.encode(xs, mean, std, columns=["OT"], pad="edge", missing="interpolate")
    for i, (x, enc) in enumerate(zip(xs, encs, strict=True)):
        alone = tok.encode(
            x, mean[i : i + 1], std[i : i + 1], columns=["OT"], pad="edge", missing="interpolate"
        )
        np.testing.assert_array_equal(enc.codes, alone.codes)
        np.testing.assert_array_equal(enc.mask, alone.mask)
    assert [b.shape for b in tok.decode(encs)] == [(40,), (77,)]


def test_a_list_goes_through_in_shared_passes(tok: Tokenizer) -> None:
    """A pass holds about VALUES_PER_PASS values (32,768), as every inference pass: 600 short
    series (48 values each once padded) are one pass, not 600; 1,100 are two, the first as
    full as the budget allows; a `batch_size` of 300 makes four; long series split the list."""
    per = VALUES_PER_PASS // 48  # 682
    assert ragged.groups([48] * 600, tok.model, None) == [range(0, 600)]
    assert [len(g) for g in ragged.groups([48] * 1100, tok.model, None)] == [per, 1100 - per]
    assert [len(g) for g in ragged.groups([48] * 1000, tok.model, 300)] == [300, 300, 300, 100]
    assert ragged.groups([96 * 400] * 3, tok.model, None) == [range(0, 1), range(1, 2), range(2, 3)]


# name -> (the call, text the one-line error must contain)
REFUSALS = {
    "pad unknown": (lambda t, s: t.encode(s[:150], pad="wrap"), "pad='wrap' is not one of 'none'"),
    "pad None": (lambda t, s: t.encode(s[:96], pad=None), "pad=None is not one of"),
    "T not whole patches, no pad": (
        lambda t, s: t.encode(s[:150]),
        "nearest are 144 or 160; or encode with pad='edge'",
    ),
    "a 1-D series not whole patches": (
        lambda t, s: t.encode(s[:150, 0]),
        "x has T = 150 time steps (shape (150,) as [T])",
    ),
    "an empty list": (lambda t, s: t.encode([]), "x is an empty list"),
    "a list with a 2-D member of another width": (
        lambda t, s: t.encode([s[:96], s[:64, :2]]),
        "x[1] has 2 channel(s) (shape (64, 2) as [T, C]) but x[0] has 7",
    ),
    "a list with a 1-D member among 2-D": (
        lambda t, s: t.encode([s[:96], s[:64, 0]]),
        "x[1] has 1 channel(s)",
    ),
    "a list with a 3-D member": (
        lambda t, s: t.encode([s[:96], s[None, :96]]),
        "x[1] has shape (1, 96, 7); each member of a list is one series",
    ),
    "a list of numbers": (lambda t, s: t.encode(list(s[:96, 0])), "pass np.asarray(x)"),
    "a list member not whole patches": (
        lambda t, s: t.encode([s[:96], s[:100]]),
        "x[1] has T = 100 time steps",
    ),
    "a list member empty": (lambda t, s: t.encode([s[:96], s[:0]], pad="edge"), "x[1] is empty"),
    "a list member with a NaN": (
        lambda t, s: t.encode([s[:96], np.where(np.arange(96)[:, None] == 7, np.nan, s[:96])]),
        "nan at window 1, time step 7, channel 0 (HUFL)",
    ),
    "decode a list of codes": (
        lambda t, s: t.decode([np.zeros((1, 7, 24), np.int64)]),
        "tokens[0] is ndarray; decode a list of what encode returned",
    ),
    "decode a list with statistics": (
        lambda t, s: t.decode(t.encode([s[:96]]), mean=np.zeros((1, 7))),
        "pass mean, std, columns and scaler only with bare codes",
    ),
}


@pytest.mark.parametrize("name", list(REFUSALS))
def test_shape_refusals_are_one_tsvq_error(tok: Tokenizer, series: np.ndarray, name: str) -> None:
    call, needle = REFUSALS[name]
    with pytest.raises(TsvqError) as info:
        call(tok, series)
    message = str(info.value)
    assert needle in message and "\n" not in message, message


def test_split_all_says_how_many_rows_it_left_out(
    tiny_run: Path, tmp_path: Path, data_dir: Path, run_cli
) -> None:
    """250 rows, windows of 96 every 96 rows: two windows reach row 192; 58 rows are left."""
    table = pd.read_csv(data_dir / "ETT-small" / "ETTh1.csv", nrows=250)
    table.to_csv(tmp_path / "short.csv", index=False)
    argv = ["encode", "--checkpoint", str(tiny_run), "--dset", "custom", "--data_path"]
    argv += [str(tmp_path / "short.csv"), "--split", "all", "--stride", "96"]
    rc, out, err = run_cli([*argv, "--out", str(tmp_path / "t.npz")])
    assert rc == 0, err
    assert "into codes [2, 7, 24]" in out
    assert "left out the last 58 row(s): no window at stride 96 reaches them" in out
    rc, out, err = run_cli([*argv[:-1], "1", "--out", str(tmp_path / "all.npz")])
    assert rc == 0 and "left out" not in out, out + err
