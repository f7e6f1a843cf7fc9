"""Tokenizer, `tsvq encode/decode/export`: real models trained here on ETTh1, no mocks.

One small model (context 96, compression 4: 24 tokens per channel) is trained for one short
epoch; the test split (2881 windows x 7 channels) is encoded once and shared.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from numpy.lib.stride_tricks import sliding_window_view

from tsvq import Encoded, Tokenizer, trust
from tsvq.cli import main
from tsvq.data.windows import Scaler
from tsvq.errors import TsvqError
from tsvq.report.evaluate import evaluate, load_split_data
from tsvq.run import checkpoint
from tsvq.tokens import npz as tokfile
from tsvq.tokens import pretrained, writer

# ETTh1's test split by the 12/4/4-month rule, starting context_points rows early.
TEST_ROWS = (16 * 30 * 24 - 96, 20 * 30 * 24)
SMALL = [
    "--context_points",
    "96",
    "--n_epochs",
    "1",
    "--block_hidden_size",
    "16",
    "--res_hidden_size",
    "8",
    "--embedding_dim",
    "8",
    "--batch_size",
    "256",
    "--lr",
    "3e-3",
]


def _train(out: Path, data_dir: Path, *extra: str) -> Path:
    rc = main(
        [
            "train",
            "--dset",
            "etth1",
            "--root_path",
            str(data_dir),
            "--save_path",
            str(out),
            *SMALL,
            *extra,
        ]
    )
    assert rc == 0
    (path,) = (out / "etth1").glob("*model1.pth")
    return path


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    # This module's small model is latency-bound; on a shared 2-core CPU two threads spin-wait
    # on each other (measured: the module took 165 s on 2 threads, 21 s on one).
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory: pytest.TempPathFactory, data_dir: Path) -> Path:
    return _train(
        tmp_path_factory.mktemp("main"),
        data_dir,
        "--num_embeddings",
        "64",
        "--max_steps_per_epoch",
        "60",
    )


@pytest.fixture(scope="module")
def other_ckpt(tmp_path_factory: pytest.TempPathFactory, data_dir: Path) -> Path:
    """Another configuration: compression 8 (12 tokens), 32 codes, OT alone, without RevIN."""
    return _train(
        tmp_path_factory.mktemp("other"),
        data_dir,
        "--compression_factor",
        "8",
        "--num_embeddings",
        "32",
        "--channel",
        "6",
        "--max_steps_per_epoch",
        "2",
        "--revin",
        "0",
    )


@pytest.fixture(scope="module")
def tok(ckpt: Path) -> Tokenizer:
    return Tokenizer.from_pretrained(ckpt)


@pytest.fixture(scope="module")
def windows(data_dir: Path) -> np.ndarray:
    """The test split's windows in original units, cut here with pandas: [2881, 96, 7]."""
    table = pd.read_csv(data_dir / "ETT-small" / "ETTh1.csv")
    values = table.iloc[:, 1:].to_numpy(np.float32)[slice(*TEST_ROWS)]
    return sliding_window_view(values, 96, axis=0).transpose(0, 2, 1)


@pytest.fixture(scope="module")
def encoded(tok: Tokenizer, windows: np.ndarray) -> Encoded:
    return tok.encode(windows)


@pytest.fixture(scope="module")
def decoded(tok: Tokenizer, encoded: Encoded) -> np.ndarray:
    return tok.decode(encoded)


def _revin_space(x: np.ndarray, enc: Encoded) -> np.ndarray:
    """Original units [B, T, C] -> the model's space, with the statistics of `enc`."""
    scaled = (x - enc.scaler.shift) / enc.scaler.scale
    return (scaled - enc.mean[:, None, :]) / enc.std[:, None, :]


# ---- the API ---------------------------------------------------------------------------------


def test_encode_test_split(encoded: Encoded, tok: Tokenizer) -> None:
    assert encoded.codes.shape == (2881, 7, 24)
    assert encoded.codes.dtype == np.int64
    assert encoded.codes.min() >= 0 and encoded.codes.max() < tok.vocab_size
    assert encoded.mean.shape == encoded.std.shape == (2881, 7)
    assert len(np.unique(encoded.codes)) > 5, "codes should carry information"


def test_decode_is_close_to_the_data(decoded: np.ndarray, windows: np.ndarray) -> None:
    assert decoded.shape == (2881, 96, 7) and decoded.dtype == np.float32
    # RevIN puts each window back at its level and spread; the shape is what the model learned.
    err = ((decoded - windows) ** 2).mean()
    spread = ((windows - windows.mean(axis=1, keepdims=True)) ** 2).mean()
    assert err < 0.6 * spread, f"reconstruction MSE {err:.3f}, within-window variance {spread:.3f}"


def test_roundtrip_error_is_what_tsvq_eval_reports(
    ckpt: Path, data_dir: Path, windows: np.ndarray, encoded: Encoded, decoded: np.ndarray
) -> None:
    """decode(encode(x)) has the per-element MSE in RevIN space that `tsvq eval` reports."""
    loaded = Tokenizer.from_pretrained(ckpt)
    report = evaluate(loaded, load_split_data(loaded, str(data_dir)), "test")
    api = ((_revin_space(decoded, encoded) - _revin_space(windows, encoded)) ** 2).mean()
    assert api == pytest.approx(report.mse, rel=1e-4)
    per_channel = ((decoded.astype(np.float64) - windows) ** 2).mean(axis=(0, 1))
    expected = [ch.mse_original for ch in report.per_channel]
    np.testing.assert_allclose(per_channel, expected, rtol=1e-4)
    assert report.mse_original is None  # 7 channels in 7 units: no average across them


def test_single_window_tensor_and_bare_codes(
    tok: Tokenizer, windows: np.ndarray, encoded: Encoded, decoded: np.ndarray
) -> None:
    one = tok.encode(torch.from_numpy(np.ascontiguousarray(windows[5])))  # [T, C] tensor
    np.testing.assert_array_equal(one.codes, encoded.codes[5:6])
    bare = tok.decode(encoded.codes[5:8], mean=encoded.mean[5:8], std=encoded.std[5:8])
    np.testing.assert_allclose(bare, decoded[5:8], rtol=1e-6, atol=1e-6)
    chunked = tok.encode(windows[:50], batch_size=7)
    np.testing.assert_array_equal(chunked.codes, encoded.codes[:50])


def test_passes_of_training_size_give_the_results_of_the_larger_ones(
    tok: Tokenizer, windows: np.ndarray, encoded: Encoded, decoded: np.ndarray
) -> None:
    """The default pass (about 32,768 values) changes no bit of what encode and decode return
    against the passes they made before (512 training windows' values)."""
    before = 512 // tok.n_channels  # windows per pass of the former default, context 96 both
    old = tok.encode(windows[:300], batch_size=before)
    for name in ("codes", "mean", "std"):
        np.testing.assert_array_equal(getattr(old, name), getattr(encoded, name)[:300])
    np.testing.assert_array_equal(tok.decode(old, batch_size=before), decoded[:300])


# ---- the command line ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tokens_file(ckpt: Path, tmp_path_factory: pytest.TempPathFactory, data_dir: Path) -> Path:
    out = tmp_path_factory.mktemp("cli") / "test.npz"
    assert (
        main(
            [
                "encode",
                "--checkpoint",
                str(ckpt),
                "--dset",
                "etth1",
                "--root_path",
                str(data_dir),
                "--split",
                "test",
                "--stride",
                "7",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    return out


def test_cli_codes_equal_api(tokens_file: Path, encoded: Encoded) -> None:
    with np.load(tokens_file) as f:
        np.testing.assert_array_equal(f["codes"], encoded.codes[::7])
        np.testing.assert_array_equal(f["mean"], encoded.mean[::7])
        np.testing.assert_array_equal(f["std"], encoded.std[::7])
        np.testing.assert_array_equal(f["start"], TEST_ROWS[0] + np.arange(0, 2881, 7))
        assert list(f["columns"]) == ["HUFL", "HULL", "MUFL", "MULL", "LUFL", "LULL", "OT"]


def test_cli_decode(ckpt: Path, tokens_file: Path, decoded: np.ndarray, tmp_path: Path) -> None:
    out = tmp_path / "x.npz"
    assert (
        main(["decode", "--checkpoint", str(ckpt), "--tokens", str(tokens_file), "--out", str(out)])
        == 0
    )
    with np.load(out) as f:
        assert f["x"].shape == (412, 96, 7)
        np.testing.assert_allclose(f["x"], decoded[::7], rtol=1e-6, atol=1e-6)
        assert f["start"][1] - f["start"][0] == 7


def test_export_gives_the_same_codes(
    ckpt: Path, tok: Tokenizer, windows: np.ndarray, encoded: Encoded, tmp_path: Path
) -> None:
    out = tmp_path / "exported"
    for _ in range(2):  # a second export replaces the first
        assert main(["export", "--checkpoint", str(ckpt), "--out", str(out)]) == 0
    assert {p.name for p in out.iterdir()} == {"config.json", "model.safetensors", "README.md"}
    umask = os.umask(0)
    os.umask(umask)
    assert out.stat().st_mode & 0o777 == 0o777 & ~umask, "the folder should not be private"
    for f in out.iterdir():  # nor its files (safetensors writes model.safetensors as 0600)
        assert f.stat().st_mode & 0o777 == 0o666 & ~umask, f"{f.name} is private"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")], "temporary left over"
    loaded = Tokenizer.from_pretrained(out)
    assert loaded.fingerprint == tok.fingerprint
    np.testing.assert_array_equal(loaded.encode(windows[:300]).codes, encoded.codes[:300])


@pytest.mark.parametrize(
    ("readme", "heading"),
    [("README.md", "### Runnable example"), ("README.zh-CN.md", "### 可运行示例")],
)
def test_readme_example_runs(
    ckpt: Path,
    data_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture,
    readme: str,
    heading: str,
    repo: Path,
) -> None:
    text = (repo / readme).read_text(encoding="utf-8")
    section = text.split(heading, 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    monkeypatch.setenv("TSVQ_CHECKPOINT", str(ckpt))
    monkeypatch.setenv("TSVQ_DATA_DIR", str(data_dir))
    monkeypatch.chdir(tmp_path)
    exec(compile(code, readme, "exec"), {"__name__": "__main__"})
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "(500, 7, 24) int64" and out[2:5] == [
        "(1, 1, 48)",
        "(1, 96, 7)",
        "[[0, 6, 2], [0, 6, 3]]",
    ], out
    assert out[5] == "(64, 8) (1, 7, 24, 8)"
    assert out[6:11] == [
        "(96,)",
        "(1, 7, 40) [37, 38, 39]",
        "(1, 150, 7)",
        "[28, 24, 76] [100, 96, 300]",
        "['OT', 'HUFL'] 2018-06-22T20:00",
    ], out
    # the saved tokens decode on the command line
    argv = ["decode", "--checkpoint", str(ckpt), "--tokens", "tokens.npz", "--out", "x.npz"]
    assert main(argv) == 0
    with np.load(tmp_path / "x.npz") as d:
        assert d["x"].shape == (1, 96, 2) and list(d["columns"]) == ["OT", "HUFL"]


# ---- bad input: one clear error --------------------------------------------------------------


def _nan_at(w: np.ndarray) -> np.ndarray:
    w = np.array(w[:8])
    w[3, 10, 2] = np.nan
    return w


@pytest.mark.parametrize(
    ("make", "kw", "message"),
    [
        (
            lambda w: w[:4, :95],
            {},
            r"T = 95 .* multiple of patch_size 16: the nearest are 80 or 96",
        ),
        (lambda w: w[:4, :9], {}, r"T = 9 .* the nearest are 16; or encode with pad="),
        (lambda w: w[:4].transpose(0, 2, 1)[:, :, :96], {}, r"T = 7 "),
        (lambda w: w[:4, None], {}, r"\[B, T, C\], \[T, C\] or \[T\], got 4 dimension\(s\)"),
        (lambda w: w[:0], {}, r"x is empty \(shape \(0, 96, 7\)\)"),
        (lambda w: w[:2, :, :0], {}, r"x is empty"),
        (_nan_at, {}, r"nan at window 3, time step 10, channel 2 \(MUFL\)"),
        (lambda w: np.where(np.arange(7) == 6, np.inf, w[:2]), {}, r"inf at window 0, .*\(OT\)"),
        (lambda w: w[:2].astype(str), {}, r"real numbers, got dtype <U"),
        (lambda w: w[:2], {"missing": "drop"}, r"missing='drop' is not one of 'error', 'interp"),
        (
            lambda w: w[:2],
            {"mean": np.zeros((2, 6)), "std": np.ones((2, 7))},
            r"mean must be \[B, C\] = \[2, 7\], got shape \(2, 6\)",
        ),
        (
            lambda w: w[:2],
            {"mean": np.zeros((2, 7)), "std": np.zeros((2, 7))},
            r"std must be > 0 .* got 0\.0 at window 0, channel 0",
        ),
        (lambda w: w[:2], {"mean": np.zeros((2, 7))}, r"give mean= and std= together"),
        (
            lambda w: w[:2],
            {"mean": np.zeros((2, 7), str), "std": np.ones((2, 7))},
            r"mean must hold real numbers",
        ),
        (lambda w: w[:2], {"columns": ["OT"]}, r"columns must name each of the 7 channel\(s\)"),
        (
            lambda w: w[:2, :, :1] * np.nan,
            {"missing": "interpolate"},
            r"no finite value at all in window 0, channel 0 \(x0\)",
        ),
    ],
)
def test_encode_rejects(tok: Tokenizer, windows: np.ndarray, make, kw: dict, message: str) -> None:
    with pytest.raises(TsvqError, match=message):
        tok.encode(make(windows), **kw)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            lambda c, m, s: (c + 64, m, s),
            r"in 0\.\.63 \(num_embeddings 64\), found \d+ at index \(0, ",
        ),
        (lambda c, m, s: (c - 64, m, s), r"in 0\.\.63"),
        (lambda c, m, s: (c.astype(np.float32), m, s), r"integers, got dtype float32"),
        (lambda c, m, s: (c[..., :11], m, s), r"n_tokens a positive multiple of 4 .* \(3, 7, 11\)"),
        (lambda c, m, s: (c[:, :0], m, s), r"got shape \(3, 0, 24\)"),
        (lambda c, m, s: (c, None, None), r"need mean= and std="),
        (lambda c, m, s: (c, m, -s), r"std must be > 0"),
        (lambda c, m, s: (c, m[:, :3], s), r"mean must be \[B, C\] = \[3, 7\]"),
        (lambda c, m, s: (c, m * np.nan, s), r"mean holds NaN"),
    ],
)
def test_decode_rejects(tok: Tokenizer, encoded: Encoded, change, message: str) -> None:
    codes, mean, std = change(encoded.codes[:3], encoded.mean[:3], encoded.std[:3])
    with pytest.raises(TsvqError, match=message):
        tok.decode(codes, mean=mean, std=std)


def test_without_revin_foreign_columns_are_refused(
    other_ckpt: Path, windows: np.ndarray, encoded: Encoded
) -> None:
    other = Tokenizer.from_pretrained(other_ckpt)
    assert (other.n_channels, other.n_tokens, other.vocab_size) == (1, 12, 32)
    with pytest.raises(
        TsvqError,
        match=r"trained without RevIN, so it encodes only its training "
        r"column\(s\) \(OT\) .* got x0, x1",
    ):
        other.encode(windows[:2])
    with pytest.raises(TsvqError, match=r"got HUFL"):
        other.encode(windows[:2, :, :1], columns=["HUFL"])
    with pytest.raises(TsvqError, match=r"trained without RevIN: encode without them"):
        other.encode(windows[:2, :, 6:], mean=np.zeros((2, 1)), std=np.ones((2, 1)))
    assert other.encode(windows[:2, :, 6:], columns=["OT"]).codes.shape == (2, 1, 12)


def _signed(arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """A tokens file's arrays with the digest recomputed over their (changed) content."""
    digests = {k: trust.digest(np.asarray(v)) for k, v in arrays.items() if tokfile.covered(k)}
    return {**arrays, tokfile.DIGEST: writer.seal(digests)}


@pytest.fixture(scope="module")
def bad_files(ckpt: Path, tokens_file: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Damaged or mismatched inputs, each made once: name -> path."""
    d = tmp_path_factory.mktemp("bad")
    state = checkpoint.load(ckpt)
    state["model_state_dict"]["vq._embedding.weight"] += 1.0  # same configuration, other weights
    del state["tsvq"]["digest"]  # as a retrained file would carry its own (the edit is tested
    # in test_file_fields.py)
    checkpoint.save(d / "retrained.pth", state)
    (d / "garbage.pth").write_bytes(b"not a checkpoint")
    with np.load(tokens_file) as f:
        arrays = dict(f)
    np.savez(d / "unsigned.npz", **{**arrays, "codes": arrays["codes"] + 1})
    np.savez(d / "not_tokens.npz", x=np.zeros(3))
    # wrong content under a digest that matches it (a faulty writer): the checks behind it
    altered = {
        "scaler": {"scaler_shift": arrays["scaler_shift"] + 1},
        "length": {"context_points": np.int64(192)},
        "mask": {"mask": np.ones(2, bool)},
        "start": {"start": np.arange(3)},
        "range": {"codes": arrays["codes"] + 64},
    }
    for name, change in altered.items():
        np.savez(d / f"altered_{name}.npz", **_signed({**arrays, **change}))
    gappy = pd.DataFrame(
        {
            "date": pd.date_range("2020-01-01", periods=20, freq="h").astype(str),
            "a": np.arange(20.0).astype(str),
            "b": "1.5",
        }
    )
    gappy.loc[6, "b"] = ""
    gappy.loc[8, "b"] = "x1"
    gappy.to_csv(d / "gappy.csv", index=False)
    stamps = pd.date_range("2020-01-01", periods=400, freq="h")
    pd.DataFrame({"date": stamps, "a": np.arange(400.0), "b": 1.0}).to_csv(
        d / "other.csv", index=False
    )
    return {p.stem: p for p in d.iterdir()}


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["encode", "--checkpoint", "{tmp}/missing.pth"], r"tokenizer not found: .*missing\.pth"),
        (["encode", "--checkpoint", "{garbage}"], r"garbage\.pth is truncated, corrupt"),
        (["encode", "--checkpoint", "{ckpt}", "--dset", "custom"], r"needs --data_path"),
        (
            ["encode", "--checkpoint", "{ckpt}", "--dset", "etth1", "--data_path", "{other}"],
            r"--data_path is for",
        ),
        (
            [
                "encode",
                "--checkpoint",
                "{other_ckpt}",
                "--dset",
                "custom",
                "--data_path",
                "{other}",
            ],
            r"trained without RevIN, so it encodes only .* got a, b",
        ),
        (
            [
                "encode",
                "--checkpoint",
                "{ckpt}",
                "--data_path",
                "{other}",
                "--split",
                "all",
                "--context_points",
                "100",
            ],
            r"--context_points 100 must be a multiple of patch_size 16: "
            r"the nearest are 96 or 112",
        ),
        (
            [
                "encode",
                "--checkpoint",
                "{ckpt}",
                "--data_path",
                "{gappy}",
                "--split",
                "all",
                "--context_points",
                "16",
            ],
            r"gappy\.csv: column 'b' data row 7 holds a blank cell; .* --missing interpolate",
        ),
        (
            [
                "encode",
                "--checkpoint",
                "{ckpt}",
                "--data_path",
                "{gappy}",
                "--split",
                "all",
                "--context_points",
                "16",
                "--missing",
                "interpolate",
            ],
            r"column 'b' data row 9 holds 'x1'; every value must be a",
        ),
        (["encode", "--checkpoint", "{ckpt}", "--root_path", "{tmp}"], r"data file not found"),
        (
            ["encode", "--checkpoint", "{ckpt}", "--data_path", "{gappy}", "--split", "all"],
            r"gappy\.csv has 20 rows, fewer than one window of 96",
        ),
        (
            ["decode", "--checkpoint", "{other_ckpt}", "--tokens", "{tokens}"],
            r"another configuration \(num_embeddings 64 vs 32; context_points 96 with n_tokens 24, "
            r"vs compression_factor 8",
        ),
        (
            ["decode", "--checkpoint", "{ckpt}", "--tokens", "{altered_scaler}"],
            r"its scaler for channel\(s\) HUFL, .* differs from the tokenizer's",
        ),
        (
            ["decode", "--checkpoint", "{ckpt}", "--tokens", "{altered_length}"],
            r"another configuration \(context_points 192 with n_tokens 24",
        ),
        (
            ["decode", "--checkpoint", "{ckpt}", "--tokens", "{altered_mask}"],
            r"'mask' must be \[n, C, n_tokens\] bool.*, got shape \(2\,\)",
        ),
        (
            ["decode", "--checkpoint", "{ckpt}", "--tokens", "{altered_start}"],
            r"'start' must be .* got shape \(3,\) with codes of shape \(412, 7, 24\)",
        ),
        (
            ["decode", "--checkpoint", "{retrained}", "--tokens", "{tokens}"],
            r"made by another model",
        ),
        (
            ["decode", "--checkpoint", "{ckpt}", "--tokens", "{altered_range}"],
            r"codes must be in 0\.\.63",
        ),
        (
            ["decode", "--checkpoint", "{ckpt}", "--tokens", "{unsigned}"],
            r"unsigned\.npz was altered or damaged after `tsvq encode` wrote it",
        ),
        (
            ["decode", "--checkpoint", "{ckpt}", "--tokens", "{not_tokens}"],
            r"not a tsvq tokens file",
        ),
        (
            ["decode", "--checkpoint", "{ckpt}", "--tokens", "{tmp}/none.npz"],
            r"none\.npz is not found",
        ),
        (["export", "--checkpoint", "{tmp}/missing"], r"tokenizer not found"),
    ],
)
def test_cli_errors(
    argv: list[str],
    message: str,
    ckpt: Path,
    other_ckpt: Path,
    tokens_file: Path,
    bad_files: dict,
    tmp_path: Path,
    capsys: pytest.CaptureFixture,
) -> None:
    names = {
        "tmp": tmp_path,
        "ckpt": ckpt,
        "other_ckpt": other_ckpt,
        "tokens": tokens_file,
        **bad_files,
    }
    out = tmp_path / "out" / "result.npz"
    args = [a.format(**names) for a in argv] + ["--out", str(out)]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"tsvq {argv[0]}: error: "), err
    assert re.search(message, err), err
    assert not out.exists() and not any((tmp_path / "out").glob(".*")), "output left behind"


def _rewrite_config(folder: Path, change) -> None:
    path = folder / "config.json"
    path.write_text(json.dumps(change(json.loads(path.read_text()))))


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda d, o: (d / "config.json").unlink(), r"has no config\.json"),
        (lambda d, o: (d / "config.json").write_text("{"), r"cannot read .*config\.json"),
        (lambda d, o: (d / "config.json").write_text('{"hidden": 3}'), r"needs 'model' and 'data'"),
        (
            lambda d, o: _rewrite_config(
                d, lambda c: {**c, "data": {**c["data"], "columns": ["OT"]}}
            ),
            r"1 column\(s\) but scaler statistics for 7",
        ),
        (
            lambda d, o: _rewrite_config(d, lambda c: {**c, "model": {**c["model"], "depth": 3}}),
            r"unknown model field\(s\) depth",
        ),
        (lambda d, o: (d / "model.safetensors").unlink(), r"lacks model\.safetensors"),
        (lambda d, o: (d / "model.safetensors").write_bytes(b"\0" * 100), r"cannot load"),
        (
            lambda d, o: shutil.copy(o / "model.safetensors", d),
            r"does not fit its config\.json \(size mismatch\): decoder\.\S+ has shape",
        ),
    ],
)
def test_damaged_folder_is_refused(
    ckpt: Path, other_ckpt: Path, tmp_path: Path, damage, message: str
) -> None:
    folder, other = tmp_path / "tok", tmp_path / "other"
    Tokenizer.from_pretrained(ckpt).save_pretrained(folder)
    Tokenizer.from_pretrained(other_ckpt).save_pretrained(other)
    damage(folder, other)
    with pytest.raises(TsvqError, match=message):
        Tokenizer.from_pretrained(folder)


def test_training_run_folder_points_to_its_checkpoint(ckpt: Path) -> None:
    with pytest.raises(TsvqError, match=r"give its checkpoint, e\.g\. vqvae_cw96"):
        Tokenizer.from_pretrained(ckpt.parent)
    with pytest.raises(TsvqError, match=r"device='gpu' is not a device"):
        Tokenizer.from_pretrained(ckpt, device="gpu")


def test_cli_refuses_to_clobber(ckpt: Path, tmp_path: Path, capsys) -> None:
    (tmp_path / "notes.txt").write_text("keep me")
    assert main(["export", "--checkpoint", str(ckpt), "--out", str(tmp_path)]) == 2
    assert (tmp_path / "notes.txt").read_text() == "keep me"
    assert main(["encode", "--checkpoint", str(ckpt), "--out", str(tmp_path)]) == 2
    assert "is a directory" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        main(["encode", "--checkpoint", str(ckpt), "--stride", "0", "--out", "x.npz"])
    assert exc.value.code == 2


# ---- data the model never saw: lengths, columns, given statistics, gaps ----------------------


def _rows(data_dir: Path, name: str) -> pd.DataFrame:
    return pd.read_csv(data_dir / name).iloc[:, 1:]


@pytest.mark.parametrize("t", [16, 48, 192, 512])
def test_any_length_is_its_patches(tok: Tokenizer, windows: np.ndarray, t: int) -> None:
    """A window of T steps gives T/4 tokens per channel; with its statistics fixed, its codes are
    those of its patches encoded on their own (the model is patch-wise)."""
    x = np.concatenate([windows[::96][: t // 96 + 1].reshape(-1, 7)])[None, :t]  # [1, T, 7]
    enc = tok.encode(x)
    assert enc.codes.shape == (1, 7, t // 4) and tok.decode(enc).shape == (1, t, 7)
    patches = x.reshape(t // 16, 16, 7)  # each patch a window of its own, same statistics
    per_patch = tok.encode(
        patches, mean=np.repeat(enc.mean, t // 16, 0), std=np.repeat(enc.std, t // 16, 0)
    )
    np.testing.assert_array_equal(per_patch.codes.transpose(1, 0, 2).reshape(1, 7, -1), enc.codes)


def test_given_statistics(tok: Tokenizer, windows: np.ndarray, encoded: Encoded) -> None:
    own = tok.encode(windows[:40], mean=encoded.mean[:40], std=encoded.std[:40])
    np.testing.assert_array_equal(own.codes, encoded.codes[:40])
    # a forecast target (the 96 steps after each context) on its context's scale
    context, target = windows[:100], windows[96:196]
    ctx = tok.encode(context)
    tgt = tok.encode(target, mean=ctx.mean, std=ctx.std)
    np.testing.assert_array_equal(tgt.mean, ctx.mean)
    back = tok.decode(tgt.codes, mean=ctx.mean, std=ctx.std)
    err = ((back - target) ** 2).mean()
    spread = ((target - target.mean(axis=1, keepdims=True)) ** 2).mean()
    assert err < spread, f"target on its context's scale: MSE {err:.3f}, variance {spread:.3f}"
    assert (tgt.codes != tok.encode(target).codes).mean() > 0.05, "the scale should matter"


def test_a_single_named_series_is_its_channel(
    tok: Tokenizer, windows: np.ndarray, encoded: Encoded
) -> None:
    ot = tok.encode(windows[:300, :, 6:], columns=["OT"])
    assert ot.scaler.kind == "standard" and ot.columns == ["OT"]
    np.testing.assert_array_equal(ot.codes, encoded.codes[:300, 6:])
    np.testing.assert_allclose(tok.decode(ot), tok.decode(encoded)[:300, :, 6:], atol=1e-4)


def test_foreign_columns_cancel_the_scaler_up_to_revin_eps(
    tok: Tokenizer, windows: np.ndarray, encoded: Encoded
) -> None:
    """Unnamed columns are not scaled: RevIN alone normalizes them, so codes differ from those
    of the training scaler only where RevIN's epsilon (1e-5) weighs on a window's variance."""
    bare = tok.encode(windows[:, :, 6:])  # C=1, no names: a foreign column
    assert bare.scaler.kind == "none" and bare.columns == ["x0"]
    same = (bare.codes == encoded.codes[:, 6:]).mean()
    assert same > 0.99, f"only {same:.4f} of the codes agree"
    err_bare = ((tok.decode(bare) - windows[:, :, 6:]) ** 2).mean()
    err_scaled = ((tok.decode(encoded)[:, :, 6:] - windows[:, :, 6:]) ** 2).mean()
    assert err_bare == pytest.approx(err_scaled, rel=0.02), (err_bare, err_scaled)


@pytest.mark.dataset("weather")
def test_other_benchmark_reconstructs(tok: Tokenizer, data_dir: Path) -> None:
    """weather.csv (21 columns the model never saw), 192-step windows: RevIN-space MSE well
    below predicting each window's mean (1.0)."""
    values = _rows(data_dir, "weather/weather.csv").to_numpy(np.float32)[:20000]
    x = sliding_window_view(values, 192, axis=0)[::97].transpose(0, 2, 1)  # [207, 192, 21]
    enc = tok.encode(x)
    mse = ((_revin_space(tok.decode(enc), enc) - _revin_space(x, enc)) ** 2).mean()
    assert enc.codes.shape == (len(x), 21, 48) and mse < 0.5, f"RevIN-space MSE {mse:.3f}"


def test_gaps_are_filled_and_masked(tok: Tokenizer, windows: np.ndarray) -> None:
    x = np.array(windows[:5])
    x[1, 10:13, 2] = np.nan  # inside one token (steps 8..11) and the next (12..15)
    x[2, :5, 0] = np.inf  # a leading gap: tokens 0 and 1
    x[4, 95, 6] = np.nan  # a trailing gap: the last token
    enc = tok.encode(x, missing="interpolate")
    expected = np.zeros((5, 7, 24), bool)
    expected[1, 2, 2:4] = expected[2, 0, 0:2] = expected[4, 6, 23] = True
    np.testing.assert_array_equal(enc.mask, expected)
    by_hand = np.array(windows[:5])
    by_hand[1, 10:13, 2] = np.interp([10, 11, 12], [9, 13], by_hand[1, [9, 13], 2])
    by_hand[2, :5, 0] = by_hand[2, 5, 0]
    by_hand[4, 95, 6] = by_hand[4, 94, 6]
    np.testing.assert_array_equal(enc.codes, tok.encode(by_hand).codes)
    assert tok.encode(windows[:5], missing="interpolate").mask.sum() == 0


def test_codebook(tok: Tokenizer, encoded: Encoded) -> None:
    book = tok.codebook
    assert book.shape == (64, 8) and book.dtype == torch.float32
    vec = tok.vectors(encoded.codes[:3])
    assert vec.shape == (3, 7, 24, 8)
    torch.testing.assert_close(vec, book[torch.from_numpy(encoded.codes[:3])])
    book.zero_()  # a copy: the tokenizer's codebook is untouched
    assert tok.codebook.abs().sum() > 0
    with pytest.raises(TsvqError, match=r"codes must be in 0\.\.63"):
        tok.vectors(np.array([64]))


# ---- any CSV from the command line, streamed; compact files; one loader -------------------


def _encode_cli(ckpt: Path, out: Path, *extra: str) -> dict[str, np.ndarray]:
    assert main(["encode", "--checkpoint", str(ckpt), "--out", str(out), *extra]) == 0
    with np.load(out) as f:
        return dict(f)


@pytest.mark.dataset("weather")
def test_cli_any_csv_equals_api(ckpt: Path, tok: Tokenizer, data_dir: Path, tmp_path: Path) -> None:
    """weather.csv, whole file, 192-step windows every 500 rows: the API's codes, in uint8."""
    csv = data_dir / "weather" / "weather.csv"
    f = _encode_cli(
        ckpt,
        tmp_path / "w.npz",
        "--dset",
        "custom",
        "--data_path",
        str(csv),
        "--split",
        "all",
        "--stride",
        "500",
        "--context_points",
        "192",
    )
    values = _rows(data_dir, "weather/weather.csv")
    x = sliding_window_view(values.to_numpy(np.float32), 192, axis=0)[::500].transpose(0, 2, 1)
    # columns the tokenizer does not know: standardized on the file's first 70% of rows; OT is
    # a training column's name, so it keeps the training scaler
    fitted = Scaler.fit("standard", values.to_numpy(np.float32)[: int(len(values) * 0.7)])
    fitted.shift[-1], fitted.scale[-1] = tok.scaler.shift[-1], tok.scaler.scale[-1]
    np.testing.assert_allclose(f["scaler_shift"], fitted.shift, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(f["scaler_scale"], fitted.scale, rtol=1e-5)
    assert f["scaler_kind"] == "mixed"
    enc = tok.encode(
        x,
        columns=list(values.columns),
        scaler=Scaler("standard", f["scaler_shift"], f["scaler_scale"]),
    )
    assert f["codes"].dtype == np.uint8 and f["codes"].shape == (len(x), 21, 48)
    np.testing.assert_array_equal(f["codes"], enc.codes)
    np.testing.assert_array_equal(f["start"], np.arange(len(x)) * 500)
    assert list(f["columns"]) == list(values.columns) and "mask" not in f
    out = tmp_path / "x.npz"
    assert (
        main(
            [
                "decode",
                "--checkpoint",
                str(ckpt),
                "--tokens",
                str(tmp_path / "w.npz"),
                "--out",
                str(out),
            ]
        )
        == 0
    )
    with np.load(out) as d:
        np.testing.assert_allclose(d["x"], tok.decode(enc), rtol=1e-5, atol=1e-4)


def test_cli_streams_in_chunks(
    ckpt: Path, data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A file parsed 100 rows and encoded 50 windows at a time gives the file read at once,
    byte for byte; a gap in OT is filled and masked as the API does."""
    table = pd.read_csv(data_dir / "ETT-small" / "ETTh1.csv", dtype=str)[["date", "OT"]]
    table.loc[[15000, 15001, 16000], "OT"] = ["", "nan", ""]  # in the 70/10/20 test split
    csv = tmp_path / "ot.csv"
    table.to_csv(csv, index=False)
    args = ("--data_path", str(csv), "--split", "test", "--stride", "3", "--missing", "interpolate")
    whole = _encode_cli(ckpt, tmp_path / "a.npz", *args)
    monkeypatch.setattr("tsvq.tokens.codec.CHUNK_VALUES", 50 * 96)
    monkeypatch.setattr("tsvq.data.stream.CHUNK_CELLS", 100)
    chunked = _encode_cli(ckpt, tmp_path / "b.npz", *args)
    assert whole.keys() == chunked.keys()
    for k in whole:
        np.testing.assert_array_equal(whole[k], chunked[k], err_msg=k)
    assert whole["mask"].any() and whole["scaler_kind"] == "standard"  # OT: a training column
    start = whole["start"]
    x = np.stack(
        [table["OT"].iloc[s : s + 96].replace("", "nan").astype(np.float32) for s in start]
    )[:, :, None]
    api = Tokenizer.from_pretrained(ckpt).encode(x, missing="interpolate", columns=["OT"])
    np.testing.assert_array_equal(whole["codes"], api.codes)
    np.testing.assert_array_equal(whole["mask"], api.mask)
    assert (
        main(
            [
                "decode",
                "--checkpoint",
                str(ckpt),
                "--tokens",
                str(tmp_path / "a.npz"),
                "--out",
                str(tmp_path / "x.npz"),
            ]
        )
        == 0
    )
    with np.load(tmp_path / "x.npz") as d:
        np.testing.assert_array_equal(d["mask"], api.mask)
        assert d["x"].shape == (len(start), 96, 1)


def test_token_file_sizes_and_version_1_files(
    ckpt: Path, tokens_file: Path, tmp_path: Path, decoded: np.ndarray
) -> None:
    """uint8 codes; a file as tsvq wrote it before (int64 codes, format_version 1) decodes."""
    with np.load(tokens_file) as f:
        arrays = dict(f)
    assert arrays["codes"].dtype == np.uint8
    # version 1 had no digest, no mask and none of the information fields
    later = ("split", "stride", "missing", "dset", "digest", "mask")
    old = {k: v for k, v in arrays.items() if k not in later}
    old.update(codes=arrays["codes"].astype(np.int64), format_version=np.int64(1))
    np.savez(tmp_path / "v1.npz", **old)
    assert (tmp_path / "v1.npz").stat().st_size > 2 * tokens_file.stat().st_size
    out = tmp_path / "x.npz"
    assert (
        main(
            [
                "decode",
                "--checkpoint",
                str(ckpt),
                "--tokens",
                str(tmp_path / "v1.npz"),
                "--out",
                str(out),
            ]
        )
        == 0
    )
    with np.load(out) as d:
        np.testing.assert_allclose(d["x"], decoded[::7], rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize(
    ("drop", "held"),
    [((), "'mask'"), (("mask",), "'digest'"), (("mask", "digest"), "codes of dtype uint8")],
)
def test_a_file_relabelled_version_1_is_refused(
    ckpt: Path, tokens_file: Path, tmp_path: Path, run_cli, no_temporaries, drop, held
) -> None:
    """Version 1 files carry no digest: a newer file whose codes were changed and whose version
    was set to 1 would skip the check, unless it must also look like a version 1 file (int64
    codes, no mask, no digest)."""
    with np.load(tokens_file) as f:
        arrays = dict(f)
    arrays["mask"] = np.zeros(arrays["codes"].shape, bool)  # as a file of a series with gaps
    arrays["codes"] = arrays["codes"] ^ 1  # every code changed, still in range (K is even)
    forged = {k: v for k, v in arrays.items() if k not in drop}
    forged["format_version"] = np.int64(1)
    np.savez(tmp_path / "forged.npz", **forged)
    out = tmp_path / "x.npz"
    code, _, err = run_cli(
        [
            "decode",
            "--checkpoint",
            str(ckpt),
            "--tokens",
            str(tmp_path / "forged.npz"),
            "--out",
            str(out),
        ]
    )
    assert code == 2 and not out.exists() and no_temporaries(tmp_path), err
    assert f"says format_version 1 but holds {held}" in err and len(err.strip().splitlines()) == 1


def _as_version_2(arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """A tokens file as tsvq 0.1 wrote it (format_version 2): sha256 over every field's name,
    dtype, shape and content's sha256, and the same per field in `field_digests` (written out
    here from that description, not with tsvq's code)."""
    out = {k: v for k, v in arrays.items() if k != "digest"}
    out["format_version"] = np.asarray(2)
    parts = {
        k: f"{k}|{v.dtype.str}|{v.shape}|".encode()
        + hashlib.sha256(np.ascontiguousarray(v).data).digest()
        for k, v in sorted(out.items())
        if tokfile.covered(k)
    }
    out["digest"] = np.asarray(hashlib.sha256(b"".join(parts.values())).hexdigest())
    out["field_digests"] = np.asarray(
        [f"{k}={hashlib.sha256(v).hexdigest()[:32]}" for k, v in parts.items()]
    )
    return out


def test_a_version_2_file_decodes_and_its_digest_still_names_an_edit(
    ckpt: Path, tokens_file: Path, tmp_path: Path, decoded: np.ndarray
) -> None:
    with np.load(tokens_file) as f:
        arrays = dict(f)
    old = _as_version_2(arrays)
    np.savez(tmp_path / "v2.npz", **old)
    out = tmp_path / "x.npz"
    argv = ["decode", "--checkpoint", str(ckpt), "--tokens", str(tmp_path / "v2.npz")]
    assert main([*argv, "--out", str(out)]) == 0
    with np.load(out) as d:
        np.testing.assert_allclose(d["x"], decoded[::7], rtol=1e-6, atol=1e-6)
    np.savez(tmp_path / "v2.npz", **{**old, "mean": old["mean"] + np.float32(0.5)})
    with pytest.raises(TsvqError, match=r"wrote it: 'mean' was changed"):
        tokfile.read_tokens(tmp_path / "v2.npz")


def test_eval_encode_decode_on_an_exported_folder(
    ckpt: Path, tmp_path: Path, tokens_file: Path, capsys: pytest.CaptureFixture
) -> None:
    folder = tmp_path / "exported"
    assert main(["export", "--checkpoint", str(ckpt), "--out", str(folder)]) == 0
    reports = []
    for source in (ckpt, folder):
        capsys.readouterr()
        assert main(["eval", "--checkpoint", str(source), "--json"]) == 0
        reports.append(json.loads(capsys.readouterr().out))
    assert reports[0]["epoch"] == reports[1]["epoch"] is not None  # exported along
    assert reports[0] == reports[1]
    f = _encode_cli(folder, tmp_path / "t.npz", "--split", "test", "--stride", "7")
    with np.load(tokens_file) as g:
        np.testing.assert_array_equal(f["codes"], g["codes"])
    assert (
        main(
            [
                "decode",
                "--checkpoint",
                str(folder),
                "--tokens",
                str(tokens_file),
                "--out",
                str(tmp_path / "x.npz"),
            ]
        )
        == 0
    )
    assert main(["plot", "--checkpoint", str(folder), "--out", str(tmp_path / "plots")]) == 0
    assert sorted(p.suffix for p in (tmp_path / "plots").iterdir()) == [".png", ".png"]


# ---- the Tokenizer's shape: a plain class holding its model --------------------------------


def test_calling_the_tokenizer_encodes(
    tok: Tokenizer, windows: np.ndarray, encoded: Encoded
) -> None:
    got = tok(windows[:50])
    np.testing.assert_array_equal(got.codes, encoded.codes[:50])
    np.testing.assert_array_equal(got.mean, encoded.mean[:50])
    with pytest.raises(TsvqError, match="every value must be a finite number"):
        tok(np.full((1, 96, 7), np.nan, np.float32))


def test_public_surface_is_what_a_user_needs(tok: Tokenizer) -> None:
    assert not isinstance(tok, torch.nn.Module)
    public = {n for n in dir(tok) if not n.startswith("_")}
    assert public == {
        "cfg",
        "codebook",
        "columns",
        "data",
        "decode",
        "device",
        "encode",
        "fingerprint",
        "from_pretrained",
        "model",
        "n_channels",
        "n_tokens",
        "push_to_hub",
        "run",
        "save_pretrained",
        "scaler",
        "scaler_for",
        "to",
        "vectors",
        "vocab_size",
    }
    assert re.fullmatch(
        r"Tokenizer\(etth1, 7 channel\(s\), T=96, patch 16, 4 steps per token, "
        r"64 codes, revin=True, device=cpu\)",
        repr(tok),
    )
    assert tok.to("cpu") is tok and tok.device == torch.device("cpu")


def test_save_pretrained_writes_the_files_earlier_exports_had(
    tok: Tokenizer, tmp_path: Path
) -> None:
    from safetensors import safe_open

    folder = tok.save_pretrained(tmp_path / "tok")
    assert sorted(p.name for p in folder.iterdir()) == [
        "README.md",
        "config.json",
        "model.safetensors",
    ]
    config = json.loads((folder / "config.json").read_text())
    assert sorted(config) == ["data", "model", "run"]
    assert sorted(config["data"]) == sorted(
        ["dset", "features", "target", "channel", "columns", "scaler"]
    )
    with safe_open(folder / "model.safetensors", "pt") as f:  # tensor names as tsvq 0.x wrote
        assert sorted(f.keys()) == sorted(f"model.{k}" for k in tok.model.state_dict())
    card = (folder / "README.md").read_text()
    assert "library_name: tsvq" in card and tok.fingerprint in card
    assert "More Information Needed" not in card
    again = Tokenizer.from_pretrained(folder)
    assert again.fingerprint == tok.fingerprint
    assert pretrained.kept(again.data) == pretrained.kept(tok.data)  # all but the paths
    with pytest.warns(FutureWarning, match=r"a property since tsvq 0\.2: write tok\.fingerprint"):
        assert tok.fingerprint() == tok.fingerprint  # as tsvq 0.1 called it
