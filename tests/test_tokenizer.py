"""Tokenizer, `tsvq encode/decode/export`: real models trained here on ETTh1, no mocks.

One small model (context 96, compression 4: 24 tokens per channel) is trained for one short
epoch; the test split (2881 windows x 7 channels) is encoded once and shared.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import REPO
from numpy.lib.stride_tricks import sliding_window_view

from tsvq import Encoded, Tokenizer, checkpoint
from tsvq.cli import main
from tsvq.errors import TsvqError
from tsvq.evaluate import evaluate, load_model, load_split_data

# ETTh1's test split by the 12/4/4-month rule, starting context_points rows early.
TEST_ROWS = (16 * 30 * 24 - 96, 20 * 30 * 24)
SMALL = ["--context_points", "96", "--n_epochs", "1", "--block_hidden_size", "16",
         "--res_hidden_size", "8", "--embedding_dim", "8", "--batch_size", "256", "--lr", "3e-3"]


def _train(out: Path, data_dir: Path, *extra: str) -> Path:
    rc = main(["train", "--dset", "etth1", "--root_path", str(data_dir),
               "--save_path", str(out), *SMALL, *extra])
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
    return _train(tmp_path_factory.mktemp("main"), data_dir, "--num_embeddings", "64",
                  "--max_steps_per_epoch", "60")


@pytest.fixture(scope="module")
def other_ckpt(tmp_path_factory: pytest.TempPathFactory, data_dir: Path) -> Path:
    """Another configuration: compression 8 (12 tokens), 32 codes, the OT channel alone."""
    return _train(tmp_path_factory.mktemp("other"), data_dir, "--compression_factor", "8",
                  "--num_embeddings", "32", "--channel", "6", "--max_steps_per_epoch", "2")


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
    loaded = load_model(ckpt)
    report = evaluate(loaded, load_split_data(loaded, str(data_dir)), "test")
    api = ((_revin_space(decoded, encoded) - _revin_space(windows, encoded)) ** 2).mean()
    assert api == pytest.approx(report["mse"], rel=1e-4)
    per_channel = ((decoded.astype(np.float64) - windows) ** 2).mean(axis=(0, 1))
    expected = [ch["mse_original"] for ch in report["per_channel"]]
    np.testing.assert_allclose(per_channel, expected, rtol=1e-4)
    assert report["mse_original"] is None  # 7 channels in 7 units: no average across them


def test_single_window_tensor_and_bare_codes(
    tok: Tokenizer, windows: np.ndarray, encoded: Encoded, decoded: np.ndarray
) -> None:
    one = tok.encode(torch.from_numpy(np.ascontiguousarray(windows[5])))  # [T, C] tensor
    np.testing.assert_array_equal(one.codes, encoded.codes[5:6])
    bare = tok.decode(encoded.codes[5:8], mean=encoded.mean[5:8], std=encoded.std[5:8])
    np.testing.assert_allclose(bare, decoded[5:8], rtol=1e-6, atol=1e-6)
    chunked = tok.encode(windows[:50], batch_size=7)
    np.testing.assert_array_equal(chunked.codes, encoded.codes[:50])


# ---- the command line ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tokens_file(ckpt: Path, tmp_path_factory: pytest.TempPathFactory, data_dir: Path) -> Path:
    out = tmp_path_factory.mktemp("cli") / "test.npz"
    assert main(["encode", "--checkpoint", str(ckpt), "--dset", "etth1", "--root_path",
                 str(data_dir), "--split", "test", "--stride", "7", "--out", str(out)]) == 0
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
    assert main(["decode", "--checkpoint", str(ckpt), "--tokens", str(tokens_file),
                 "--out", str(out)]) == 0
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
    assert loaded.fingerprint() == tok.fingerprint()
    np.testing.assert_array_equal(loaded.encode(windows[:300]).codes, encoded.codes[:300])


def test_readme_example_runs(ckpt: Path, data_dir: Path, monkeypatch: pytest.MonkeyPatch,
                           tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    section = text.split("### Runnable example", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    monkeypatch.setenv("TSVQ_CHECKPOINT", str(ckpt))
    monkeypatch.setenv("TSVQ_DATA_DIR", str(data_dir))
    monkeypatch.chdir(tmp_path)
    exec(compile(code, "README.md", "exec"), {"__name__": "__main__"})
    assert "(500, 7, 24) int64" in capsys.readouterr().out


# ---- bad input: one clear error --------------------------------------------------------------


def _nan_at(w: np.ndarray) -> np.ndarray:
    w = np.array(w[:8])
    w[3, 10, 2] = np.nan
    return w


@pytest.mark.parametrize(("make", "message"), [
    (lambda w: w[:4, :95], r"T = context_points = 96 .* got shape \(4, 95, 7\)"),
    (lambda w: w[:4, :, :6], r"C = 7 channel\(s\)"),
    (lambda w: w[:4].transpose(0, 2, 1), r"looks like \[B, C, T\]"),
    (lambda w: w[:4, None], r"got shape \(4, 1, 96, 7\)"),
    (_nan_at, r"nan at window 3, time step 10, channel 2 \(MUFL\)"),
    (lambda w: np.where(np.arange(7) == 6, np.inf, w[:2]), r"inf at window 0, .*\(OT\)"),
    (lambda w: w[:2].astype(str), r"real numbers, got dtype <U"),
])
def test_encode_rejects(tok: Tokenizer, windows: np.ndarray, make, message: str) -> None:
    with pytest.raises(TsvqError, match=message):
        tok.encode(make(windows))


@pytest.mark.parametrize(("change", "message"), [
    (lambda c, m, s: (c + 64, m, s), r"in 0\.\.63 \(num_embeddings 64\), found \d+ at window 0"),
    (lambda c, m, s: (c - 64, m, s), r"in 0\.\.63"),
    (lambda c, m, s: (c.astype(np.float32), m, s), r"integers, got dtype float32"),
    (lambda c, m, s: (c[..., :12], m, s), r"\[B, 7, 24\] .* got shape \(3, 7, 12\)"),
    (lambda c, m, s: (c, None, None), r"need mean= and std="),
    (lambda c, m, s: (c, m, -s), r"std must be > 0"),
    (lambda c, m, s: (c, m[:, :3], s), r"mean must be \[B, C\] = \[3, 7\]"),
    (lambda c, m, s: (c, m * np.nan, s), r"mean holds NaN"),
])
def test_decode_rejects(tok: Tokenizer, encoded: Encoded, change, message: str) -> None:
    codes, mean, std = change(encoded.codes[:3], encoded.mean[:3], encoded.std[:3])
    with pytest.raises(TsvqError, match=message):
        tok.decode(codes, mean=mean, std=std)


def test_other_configuration_is_refused(
    other_ckpt: Path, windows: np.ndarray, encoded: Encoded
) -> None:
    other = Tokenizer.from_pretrained(other_ckpt)
    assert (other.n_channels, other.n_tokens, other.vocab_size) == (1, 12, 32)
    with pytest.raises(TsvqError, match=r"\[B, 1, 12\] .* another configuration"):
        other.decode(encoded.codes[:2], mean=encoded.mean[:2, :1], std=encoded.std[:2, :1])
    with pytest.raises(TsvqError, match=r"C = 1 channel\(s\) \(OT\)"):
        other.encode(windows[:2])


@pytest.fixture(scope="module")
def bad_files(ckpt: Path, tokens_file: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Damaged or mismatched inputs, each made once: name -> path."""
    d = tmp_path_factory.mktemp("bad")
    state = checkpoint.load(ckpt)
    state["model_state_dict"]["vq._embedding.weight"] += 1.0  # same configuration, other weights
    checkpoint.save(d / "retrained.pth", state)
    (d / "garbage.pth").write_bytes(b"not a checkpoint")
    with np.load(tokens_file) as f:
        arrays = dict(f)
    np.savez(d / "out_of_range.npz", **{**arrays, "codes": arrays["codes"] + 64})
    np.savez(d / "not_tokens.npz", x=np.zeros(3))
    stamps = pd.date_range("2020-01-01", periods=400, freq="h")
    pd.DataFrame({"date": stamps, "a": np.arange(400.0), "b": 1.0}).to_csv(d / "other.csv",
                                                                          index=False)
    return {p.stem: p for p in d.iterdir()}


@pytest.mark.parametrize(("argv", "message"), [
    (["encode", "--checkpoint", "{tmp}/missing.pth"], r"tokenizer not found: .*missing\.pth"),
    (["encode", "--checkpoint", "{garbage}"], r"garbage\.pth is truncated, corrupt"),
    (["encode", "--checkpoint", "{ckpt}", "--dset", "custom"], r"needs --data_path"),
    (["encode", "--checkpoint", "{ckpt}", "--data_path", "{other}"], r"--data_path is for"),
    (["encode", "--checkpoint", "{ckpt}", "--dset", "custom", "--data_path", "{other}"],
     r"gives channel\(s\) a, b; the tokenizer was trained on HUFL"),
    (["encode", "--checkpoint", "{ckpt}", "--root_path", "{tmp}"], r"data file not found"),
    (["decode", "--checkpoint", "{other_ckpt}", "--tokens", "{tokens}"],
     r"another configuration \(n_tokens 24 vs 12; num_embeddings 64 vs 32; channels"),
    (["decode", "--checkpoint", "{retrained}", "--tokens", "{tokens}"], r"made by another model"),
    (["decode", "--checkpoint", "{ckpt}", "--tokens", "{out_of_range}"],
     r"codes must be in 0\.\.63"),
    (["decode", "--checkpoint", "{ckpt}", "--tokens", "{not_tokens}"], r"not a tsvq tokens file"),
    (["decode", "--checkpoint", "{ckpt}", "--tokens", "{tmp}/none.npz"], r"none\.npz is not found"),
    (["export", "--checkpoint", "{tmp}/missing"], r"tokenizer not found"),
])
def test_cli_errors(argv: list[str], message: str, ckpt: Path, other_ckpt: Path,
                    tokens_file: Path, bad_files: dict, tmp_path: Path,
                    capsys: pytest.CaptureFixture) -> None:
    names = {"tmp": tmp_path, "ckpt": ckpt, "other_ckpt": other_ckpt, "tokens": tokens_file,
             **bad_files}
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


@pytest.mark.parametrize(("damage", "message"), [
    (lambda d, o: (d / "config.json").unlink(), r"has no config\.json"),
    (lambda d, o: (d / "config.json").write_text("{"), r"cannot read .*config\.json"),
    (lambda d, o: (d / "config.json").write_text('{"hidden": 3}'), r"needs 'model' and 'data'"),
    (lambda d, o: _rewrite_config(d, lambda c: {**c, "data": {**c["data"], "columns": ["OT"]}}),
     r"1 column\(s\) but scaler statistics for 7"),
    (lambda d, o: _rewrite_config(d, lambda c: {**c, "model": {**c["model"], "depth": 3}}),
     r"unknown model field\(s\) depth"),
    (lambda d, o: (d / "model.safetensors").unlink(), r"lacks model\.safetensors"),
    (lambda d, o: (d / "model.safetensors").write_bytes(b"\0" * 100), r"cannot load"),
    (lambda d, o: shutil.copy(o / "model.safetensors", d), r"cannot load .*size mismatch"),
])
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
