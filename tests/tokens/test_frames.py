"""DataFrames and names respected (issue 21, item 5): columns matched to the training columns
by name, the index kept in `Encoded` and in the tokens file, `Encoded.save` read by `tsvq
decode`, and no warning of another library reaching the user."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from tsvq import trust
from tsvq.errors import TsvqError
from tsvq.tokens import npz, writer
from tsvq.tokens.encoded import Encoded
from tsvq.tokens.tokenizer import Tokenizer

NAMES = ["HUFL", "HULL", "MUFL", "MULL", "LUFL", "LULL", "OT"]


@pytest.fixture(scope="module", params=["tiny_run", "tiny_run_revin0"], ids=["revin", "revin 0"])
def tok(request: pytest.FixtureRequest) -> Tokenizer:
    return Tokenizer.from_pretrained(request.getfixturevalue(request.param))


@pytest.fixture(scope="module")
def frame(data_dir: Path) -> pd.DataFrame:
    """ETTh1's first 500 rows by date: a DataFrame as pandas reads it."""
    table = pd.read_csv(data_dir / "ETT-small" / "ETTh1.csv", nrows=500, parse_dates=["date"])
    return table.set_index("date")


def test_columns_are_matched_by_name(tok: Tokenizer, frame: pd.DataFrame) -> None:
    """Reordered columns take their own scaler: the codes are the same channels' codes in the
    new order (with a `--revin 0` model, scaled as another column they would differ)."""
    window = frame.iloc[:96]
    own = tok.encode(window)
    flipped = tok.encode(window[list(reversed(NAMES))])
    assert own.columns == list(NAMES) and flipped.columns == list(reversed(NAMES))
    np.testing.assert_array_equal(flipped.codes, own.codes[:, ::-1])
    np.testing.assert_array_equal(flipped.scaler.shift, tok.scaler.shift[::-1])
    np.testing.assert_allclose(tok.decode(flipped), tok.decode(own)[..., ::-1], rtol=1e-6)
    # a subset in another order: each column still its own scaler and codes
    two = tok.encode(window[["OT", "HUFL"]])
    np.testing.assert_array_equal(two.codes, own.codes[:, [6, 0]])


def test_an_unknown_column_is_a_foreign_one(tok: Tokenizer, frame: pd.DataFrame) -> None:
    window = frame.iloc[:96].assign(extra=np.linspace(0, 1, 96))
    if not tok.cfg.revin:
        with pytest.raises(TsvqError, match=r"trained without RevIN, .* got extra \(retrain"):
            tok.encode(window)
        return
    enc = tok.encode(window)
    assert enc.columns == [*NAMES, "extra"] and enc.scaler.kind == "mixed"
    assert (enc.scaler.shift[7], enc.scaler.scale[7]) == (0.0, 1.0)  # RevIN alone scales it
    np.testing.assert_array_equal(enc.codes[:, :7], tok.encode(window[NAMES]).codes)


def test_the_index_is_kept_in_encoded_and_in_the_tokens_file(
    tok: Tokenizer, frame: pd.DataFrame, tmp_path: Path
) -> None:
    enc = tok.encode(frame.iloc[10:160], pad="edge")
    assert enc.index.shape == (1,) and enc.index[0] == np.datetime64(frame.index[10], "ns")
    enc.save(tmp_path / "t.npz")
    read = npz.read_tokens(tmp_path / "t.npz")
    assert read.version == 4 and read.length == 150 and read.index.dtype.kind == "M"
    np.testing.assert_array_equal(read.index, enc.index)
    # a Series is one channel named by its name; its index is kept as well
    ot = tok.encode(frame["OT"].iloc[:96])
    assert ot.columns == ["OT"] and ot.input_1d and ot.index[0] == np.datetime64(frame.index[0])
    np.testing.assert_array_equal(ot.codes[0, 0], tok.encode(frame.iloc[:96]).codes[0, 6])
    # a list of DataFrames keeps each one's index
    encs = tok.encode([frame.iloc[:96], frame.iloc[200:300]], pad="zero")
    assert [e.index[0] for e in encs] == [np.datetime64(frame.index[i], "ns") for i in (0, 200)]


@pytest.mark.parametrize(
    ("index", "kind"),
    [
        (pd.RangeIndex(5, 101), "i"),
        (pd.Index(np.arange(96) * 0.5), "f"),
        (pd.date_range("2020-01-01", periods=96, freq="h", tz="Europe/Paris"), "U"),
        (pd.Index([f"t{i:03d}" for i in range(96)]), "U"),
    ],
)
def test_any_sorted_index_is_kept(
    tok: Tokenizer, frame: pd.DataFrame, tmp_path: Path, index: pd.Index, kind: str
) -> None:
    enc = tok.encode(frame.iloc[:96].set_axis(index))
    assert enc.index.dtype.kind == kind and str(enc.index[0]) == str(index[0])
    enc.save(tmp_path / "t.npz")
    assert str(npz.read_tokens(tmp_path / "t.npz").index[0]) == str(index[0])


def test_saved_tokens_decode_through_the_command_line(
    tiny_run: Path, data_dir: Path, tmp_path: Path, run_cli
) -> None:
    tok = Tokenizer.from_pretrained(tiny_run)
    seven = pd.read_csv(data_dir / "ETT-small" / "ETTh1.csv", nrows=300, index_col=0)
    assert seven.index.dtype.kind not in "Miuf"  # dates as text: kept as text
    enc = tok.encode(seven.iloc[:150], pad="reflect")
    enc.save(tmp_path / "tokens.npz")
    argv = ["decode", "--checkpoint", str(tiny_run), "--tokens", str(tmp_path / "tokens.npz")]
    rc, out, err = run_cli([*argv, "--out", str(tmp_path / "x.npz")])
    assert rc == 0, err
    with np.load(tmp_path / "x.npz") as d:
        np.testing.assert_allclose(d["x"], tok.decode(enc), rtol=1e-6, atol=1e-6)
        assert d["x"].shape == (1, 150, 7) and d["mask"].shape == (1, 7, 40)
        np.testing.assert_array_equal(d["index"], enc.index)
        assert list(d["columns"]) == tok.columns
    # without padding or index: the version 3 file tsvq 0.2 reads
    tok.encode(seven.iloc[:96].to_numpy()).save(tmp_path / "v3.npz")
    assert npz.read_tokens(tmp_path / "v3.npz").version == 3
    rc, _, err = run_cli([*argv[:-1], str(tmp_path / "v3.npz"), "--out", str(tmp_path / "y.npz")])
    assert rc == 0, err


def _read_only(a: np.ndarray) -> np.ndarray:
    a = np.array(a)
    a.flags.writeable = False
    return a


def test_no_warning_of_another_library_reaches_the_user(
    tok: Tokenizer, frame: pd.DataFrame
) -> None:
    """Read-only arrays (a memory-mapped file, a broadcast view, pandas' copy-on-write values)
    and every input kind, with warnings as errors."""
    x = frame.to_numpy(np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        enc = tok.encode(_read_only(x[:96]))
        tok.encode(np.broadcast_to(x[:1], (96, 7)))
        if tok.cfg.revin:
            tok.decode(_read_only(enc.codes), _read_only(enc.mean), _read_only(enc.std))
            tok.encode(_read_only(x[:96]), _read_only(enc.mean), _read_only(enc.std))
        else:
            tok.decode(_read_only(enc.codes))
        tok.decode(tok.encode([_read_only(x[:50]), torch.from_numpy(x[:70])], pad="edge"))
        tok.decode(tok.encode(frame.iloc[:150], pad="reflect"))
        tok.decode(tok.encode(frame.astype("Float64").iloc[:96]))


def _with_na(window: pd.DataFrame) -> pd.DataFrame:
    """`window` in pandas' nullable floats, OT missing (pd.NA) at step 4."""
    out = window.astype("Float64")
    out.iloc[4, 6] = pd.NA
    return out


# name -> (the call, text the one-line error must contain)
REFUSALS = {
    "a duplicate column": (
        lambda t, f: t.encode(f.iloc[:96, [0, 1, 1]]),
        "x names column(s) HULL more than once",
    ),
    "a duplicate in columns=": (
        lambda t, f: t.encode(f.iloc[:96, :3].to_numpy(), columns=["OT", "HULL", "OT"]),
        "columns names OT more than once",
    ),
    "a text column": (
        lambda t, f: t.encode(f.iloc[:96].assign(label="a")),
        "values, not numbers; select the value columns (df.select_dtypes('number')",
    ),
    "a bool column": (
        lambda t, f: t.encode(f.iloc[:96].assign(flag=True)),
        "column 'flag' of x holds bool values",
    ),
    "a date column": (
        lambda t, f: t.encode(f.iloc[:96].reset_index()),
        "column 'date' of x holds datetime64[",
    ),
    "columns= beside a DataFrame": (
        lambda t, f: t.encode(f.iloc[:96], columns=list(NAMES)),
        "pass columns= with an array or tensor only",
    ),
    "an index out of order": (
        lambda t, f: t.encode(f.iloc[:96].sample(frac=1.0, random_state=0)),
        "the index of x is not strictly increasing: row ",
    ),
    "an index with a repeat": (
        lambda t, f: t.encode(f.iloc[[0, 1, 1, *range(2, 95)]]),
        "the index of x is not strictly increasing: row 2 (2016-07-01T01:00",
    ),
    "a list member's index out of order": (
        lambda t, f: t.encode([f.iloc[:96], f.iloc[96:192][::-1]]),
        "the index of x[1] is not strictly increasing",
    ),
    "a list of DataFrames with other columns": (
        lambda t, f: t.encode([f.iloc[:96], f.iloc[:96, ::-1]]),
        "x[1] names its channels ['OT', 'LULL', 'LUFL', 'MULL', 'MUFL', 'HULL', 'HUFL'] but x[0]",
    ),
    "a missing value, not filled": (
        lambda t, f: t.encode(_with_na(f.iloc[:96])),
        "nan at window 0, time step 4, channel 6 (OT)",
    ),
    "save under a name that is not .npz": (
        lambda t, f: t.encode(f.iloc[:96]).save("tokens.csv"),
        "Encoded.save('tokens.csv'): not an .npz name; a tokens file is a numpy .npz archive, "
        "e.g. tokens.npz",
    ),
    "save of an Encoded made by hand": (
        lambda t, f: Encoded(
            np.zeros((1, 7, 24), np.int64), np.zeros((1, 7)), np.ones((1, 7)), t.scaler
        ).save("never.npz"),
        "does not name the tokenizer that made it",
    ),
}


@pytest.mark.parametrize("name", list(REFUSALS))
def test_frame_refusals_are_one_tsvq_error(
    tok: Tokenizer, frame: pd.DataFrame, name: str, tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.chdir(tmp_path)
    call, needle = REFUSALS[name]
    with pytest.raises(TsvqError) as info:
        call(tok, frame)
    message = str(info.value)
    assert needle in message and "\n" not in message, message
    assert list(tmp_path.iterdir()) == []


def test_a_tokens_file_length_beyond_its_windows_is_refused(
    tok: Tokenizer, frame: pd.DataFrame, tmp_path: Path
) -> None:
    enc = tok.encode(frame.iloc[:150], pad="edge")
    enc.save(tmp_path / "t.npz")
    assert npz.read_tokens(tmp_path / "t.npz").length == 150
    with np.load(tmp_path / "t.npz") as f:
        arrays = dict(f)
    arrays["length"] = np.asarray(200)
    digests = {k: trust.digest(np.asarray(v)) for k, v in arrays.items() if writer.covered(k)}
    np.savez(tmp_path / "bad.npz", **{**arrays, writer.DIGEST: writer.seal(digests)})
    with pytest.raises(
        TsvqError,
        match=r"'length' must be steps per window before padding, "
        r"1\.\.context_points \(version 4\), got 200 with context_points 160",
    ):
        npz.read_tokens(tmp_path / "bad.npz")
