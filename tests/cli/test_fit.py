"""`tsvq.fit`: the command's own code path from Python, on the inputs users have."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

import tsvq
from tsvq.data.convert import to_collection

NAME = "vqvae_cw32_ps16_ed32_cf4_cb256_model1"
FLAGS = {"n_epochs": 1, "context_points": 32, "max_steps_per_epoch": 3, "batch_size": 16}
FLAGS_CLI = [f"--{k}={v}" for k, v in {**FLAGS, "threads": 1}.items()]


def _walk(rows: int, channels: int, seed: int) -> np.ndarray:
    """A seeded random walk, rounded to 3 decimals: the same float32 from a CSV as in memory."""
    rng = np.random.default_rng(seed)
    return np.round(rng.normal(size=(rows, channels)).cumsum(0), 3)


def _frame(rows: int = 400) -> pd.DataFrame:
    dates = pd.date_range("2020-01-01", periods=rows, freq="h")
    return pd.DataFrame(_walk(rows, 2, 1), columns=["load", "temp"], index=dates)


def test_fit_and_the_command_train_the_same_weights_and_codes(tmp_path: Path, run_cli):
    frame = _frame()
    csv = tmp_path / "load.csv"
    frame.rename_axis("date").to_csv(csv)
    rc, _, err = run_cli(
        [
            "train",
            "--dset",
            "custom",
            "--data_path",
            str(csv),
            "--save_path",
            str(tmp_path / "cli"),
            *FLAGS_CLI,
        ]
    )
    assert rc == 0, err
    tok_api = tsvq.fit(frame, save_path=tmp_path / "api", threads=1, **FLAGS)
    cli_dir = tmp_path / "cli" / "custom" / "load"  # a run on load.csv is named after it
    cli = torch.load(cli_dir / f"vqvae_load_{NAME[6:]}.pth", weights_only=False)
    api = torch.load(tmp_path / "api" / "custom" / f"{NAME}.pth", weights_only=False)
    assert cli["model_state_dict"].keys() == api["model_state_dict"].keys()
    for key, w in cli["model_state_dict"].items():
        assert torch.equal(w, api["model_state_dict"][key]), key
    assert cli["config"] == api["config"]
    # the same files of the run, and the same flags recorded but where the data came from
    assert sorted(p.name.replace("load_", "") for p in cli_dir.iterdir()) == sorted(
        p.name for p in (tmp_path / "api" / "custom").iterdir()
    )
    differ = {"data_path", "save_path", "threads"}
    assert {k: v for k, v in cli["args"].items() if k not in differ} == {
        k: v for k, v in api["args"].items() if k not in differ
    }
    tok_cli = tsvq.Tokenizer.from_pretrained(cli_dir / f"vqvae_load_{NAME[6:]}.pth")
    x = frame.to_numpy(np.float32)[None, :32]
    np.testing.assert_array_equal(tok_api.encode(x).codes, tok_cli.encode(x).codes)
    assert tok_api.columns == ["load", "temp"]


def test_without_a_save_path_it_trains_in_a_folder_it_removes(tmp_path: Path, monkeypatch, capsys):
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", None)
    tok = tsvq.fit(_walk(300, 1, 2)[:, 0], **FLAGS)  # 1-D: one channel
    out = capsys.readouterr().out
    assert "Epoch   1/1 | Train Loss:" in out and "temporary folder" in out
    assert list(tmp_path.iterdir()) == []
    assert tok.n_channels == 1
    assert tok.data.spec.data_path is None and tok.data.sha256 is not None


@pytest.mark.parametrize(
    ("kind", "make", "lengths", "columns"),
    [
        ("[T, C]", lambda: _walk(200, 3, 0), [200], ["0", "1", "2"]),
        ("[N, T, C]", lambda: _walk(300, 2, 0).reshape(3, 100, 2), [100] * 3, ["0", "1"]),
        (
            "list of 1-D",
            lambda: [_walk(n, 1, n)[:, 0] for n in (90, 150, 60)],
            [90, 150, 60],
            ["0"],
        ),
        (
            "dicts with a target",
            lambda: [{"target": _walk(n, 1, n)[:, 0], "item_id": f"s{n}"} for n in (80, 120)],
            [80, 120],
            ["0"],
        ),
        (
            "wide DataFrame with a date column",
            lambda: _frame(120).rename_axis("date").reset_index(),
            [120],
            ["load", "temp"],
        ),
        (
            "wide DataFrame without dates",
            lambda: _frame(120).reset_index(drop=True),
            [120],
            ["load", "temp"],
        ),
        (
            "long DataFrame",
            lambda: pd.DataFrame(
                {
                    "item_id": np.repeat(["a", "b"], [70, 50]),
                    "timestamp": np.concatenate(
                        [pd.date_range("2021", periods=n, freq="D") for n in (70, 50)]
                    ),
                    "value": _walk(120, 1, 3)[:, 0],
                }
            ),
            [70, 50],
            ["value"],
        ),
    ],
)
def test_each_input_kind_reads_as_its_series(kind, make, lengths, columns):
    data = make()
    got = to_collection(data, id_column="item_id" if kind == "long DataFrame" else None)
    assert got.lengths == lengths, kind
    assert list(got.columns) == columns, kind


def test_a_panel_of_different_lengths_trains_and_round_trips():
    series = [_walk(n, 1, n)[:, 0] for n in (90, 150, 60, 200)]
    tok = tsvq.fit(series, **FLAGS)
    x = np.asarray(series[1][:32], np.float32)[None, :, None]
    enc = tok.encode(x)
    back = tok.decode(enc)
    assert back.shape == x.shape and np.isfinite(back).all()


@pytest.mark.parametrize(
    ("data", "kw", "message"),
    [
        ([np.zeros((50, 2)), np.zeros((50, 3))], {}, "series 1 has 3 channel"),
        (
            pd.DataFrame({"id": ["a", "b", "c"], "v": [1.0, 2.0, 3.0]}),
            {"id_column": "id"},
            "one row per series",
        ),
        (
            pd.DataFrame(
                {
                    "id": ["a"] * 3,
                    "timestamp": ["2020-01-02", "2020-01-01", "2020-01-03"],
                    "v": [1.0, 2, 3],
                }
            ),
            {"id_column": "id"},
            "series 'a': timestamps go backwards at its row 2",
        ),
        (
            pd.DataFrame({"v": [1.0, 2.0], "label": ["x", "y"]}),
            {},
            "column 'label' is not numeric .*columns= or leave it out with exclude=",
        ),
        (pd.DataFrame({"v": [1.0, 2.0]}), {"columns": ["w"]}, "columns=w names no column"),
        (_walk(100, 1, 0), {"lr": -1}, "tsvq.fit: argument lr=: must be > 0"),
        (_walk(100, 1, 0), {"bogus": 1}, "unknown keyword bogus="),
        (_walk(100, 1, 0), {"data_path": "x.csv"}, "data_path= is not a keyword of fit"),
        ("a string", {}, "cannot read series from a str"),
        (
            [np.ones(50), np.r_[np.ones(20), np.nan, np.ones(29)]],
            {},
            "series '1', column '0' row 21 holds nan; every value must be a finite",
        ),
        (np.full((50, 1), 1e39), {}, r"the array holds 1e\+39, beyond the float32 range"),
        (
            pd.DataFrame({"id": ["a", None, "a"], "v": [1.0, 2.0, 3.0]}),
            {"id_column": "id"},
            "id_column='id' is blank in row 2",
        ),
    ],
)
def test_bad_input_is_one_clear_error_and_writes_nothing(tmp_path: Path, data, kw, message):
    with pytest.raises(tsvq.TsvqError, match=message):
        tsvq.fit(data, save_path=tmp_path / "out", **kw)
    assert not (tmp_path / "out").exists()


def test_runs_on_two_files_never_share_a_name(tmp_path: Path, run_cli):
    """A custom run is named after its file: two files, two folders, two TensorBoard runs."""
    for stem in ("north", "south"):
        csv = tmp_path / f"{stem}.csv.gz"
        _frame(300).rename_axis("date").to_csv(csv)
        rc, _, err = run_cli(
            [
                "train",
                "--dset",
                "custom",
                "--data_path",
                str(csv),
                "--save_path",
                str(tmp_path / "o"),
                *FLAGS_CLI,
            ]
        )
        assert rc == 0, err
    for stem in ("north", "south"):
        assert (tmp_path / "o" / "custom" / stem / f"vqvae_{stem}_{NAME[6:]}.pth").is_file()
