"""A user's own file on the command line (issue 21): value columns chosen by --columns /
--exclude, a long file (--id_column), Parquet, a file without dates, gaps (--missing
interpolate); the command and `tsvq.fit` on the same series train the same weights, and eval,
plot and encode read the file as the run did without the flags repeated.

The series are generated in the shapes of public data this project does not ship: a panel of
short labelled series (M4/Tourism-like), sensor data without timestamps, weekly univariate
data with gaps.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

import tsvq

FLAGS = {"n_epochs": 1, "context_points": 32, "max_steps_per_epoch": 3, "batch_size": 16}
FLAGS_CLI = [f"--{k}={v}" for k, v in {**FLAGS, "threads": 1}.items()]
TAIL = "cw32_ps16_ed32_cf4_cb256_model1"


def _panel(lengths: tuple[int, ...] = (90, 140, 200), seed: int = 3) -> pd.DataFrame:
    """A long table: item_id, timestamp (daily), two values, and a text label per series."""
    rng = np.random.default_rng(seed)
    parts = []
    for k, n in enumerate(lengths):
        walk = np.round(rng.normal(size=(n, 2)).cumsum(0), 3)
        parts.append(
            pd.DataFrame(
                {
                    "item_id": f"S{k}",
                    "timestamp": pd.date_range("2021-01-01", periods=n, freq="D"),
                    "sales": walk[:, 0],
                    "price": walk[:, 1],
                    "label": ["weekday", "holiday"][k % 2],
                }
            )
        )
    return pd.concat(parts, ignore_index=True)


def _train_argv(data: Path, out: Path, *flags: str) -> list[str]:
    where = ["--dset", "custom", "--data_path", str(data), "--save_path", str(out)]
    return ["train", *where, *FLAGS_CLI, *flags]


def _train(run_cli, data: Path, out: Path, *flags: str) -> tuple[str, Path]:
    rc, stdout, err = run_cli(_train_argv(data, out, *flags))
    assert rc == 0, err
    stem = tsvq_stem(data)
    return stdout, out / "custom" / stem / f"vqvae_{stem}_{TAIL}.pth"


def tsvq_stem(data: Path) -> str:
    return data.name.split(".")[0]


def _same_weights(a: Path, b: Path) -> None:
    wa = torch.load(a, weights_only=False)["model_state_dict"]
    wb = torch.load(b, weights_only=False)["model_state_dict"]
    assert wa.keys() == wb.keys()
    for key, w in wa.items():
        assert torch.equal(w, wb[key]), key


def test_a_labelled_panel_from_a_long_csv_trains_as_tsvq_fit_does(tmp_path: Path, run_cli):
    frame = _panel()
    csv = tmp_path / "shop.csv"
    frame.to_csv(csv, index=False)
    out, ckpt = _train(
        run_cli, csv, tmp_path / "cli", "--id_column", "item_id", "--exclude", "label"
    )
    assert "Number of channels: 2 (sales, price)" in out and "; 3 series" in out
    tok_api = tsvq.fit(
        frame, tmp_path / "api", id_column="item_id", exclude=["label"], threads=1, **FLAGS
    )
    api = tmp_path / "api" / "custom" / f"vqvae_{TAIL}.pth"
    _same_weights(ckpt, api)
    # the run records how it read the file: eval and encode need no flag to read it again
    rc, table, err = run_cli(["eval", "--checkpoint", str(ckpt), "--json"])
    assert rc == 0, err
    rc, _, err = run_cli(["encode", "--checkpoint", str(ckpt), "--out", str(tmp_path / "t.npz")])
    assert rc == 0, err
    tokens = np.load(tmp_path / "t.npz")
    # windows of the test split, series by series, none across two: each series' own windows
    for name in ("S0", "S1", "S2"):
        rows = frame.loc[frame.item_id == name, ["sales", "price"]].to_numpy(np.float32)
        n = len(rows)
        lo = n - int(n * 0.2) - 32
        mine = tokens["series"] == name
        assert mine.sum() == n - lo - 32 + 1
        np.testing.assert_array_equal(tokens["start"][mine], np.arange(lo, n - 32 + 1))
        x = np.stack([rows[s : s + 32] for s in tokens["start"][mine]])
        np.testing.assert_array_equal(tokens["codes"][mine], tok_api.encode(x).codes)
        stamps = frame.loc[frame.item_id == name, "timestamp"].to_numpy()
        np.testing.assert_array_equal(tokens["index"][mine], stamps[tokens["start"][mine]])
    rc, _, err = run_cli(
        [
            "decode",
            "--checkpoint",
            str(ckpt),
            "--tokens",
            str(tmp_path / "t.npz"),
            "--out",
            str(tmp_path / "x.npz"),
        ]
    )
    assert rc == 0, err
    assert np.load(tmp_path / "x.npz")["series"].tolist() == tokens["series"].tolist()


def test_parquet_reads_as_the_same_csv(tmp_path: Path, run_cli):
    pytest.importorskip("fastparquet")
    frame = _panel()
    frame.to_csv(tmp_path / "a.csv", index=False)
    frame.to_parquet(tmp_path / "b.parquet")
    flags = ("--id_column", "item_id", "--exclude", "label")
    _, from_csv = _train(run_cli, tmp_path / "a.csv", tmp_path / "out", *flags)
    _, from_parquet = _train(run_cli, tmp_path / "b.parquet", tmp_path / "out", *flags)
    _same_weights(from_csv, from_parquet)
    for ckpt, name in ((from_csv, "a"), (from_parquet, "b")):
        rc, _, err = run_cli(
            ["encode", "--checkpoint", str(ckpt), "--out", str(tmp_path / f"{name}.npz")]
        )
        assert rc == 0, err
    a, b = np.load(tmp_path / "a.npz"), np.load(tmp_path / "b.npz")
    for field in ("codes", "start", "series", "index"):
        np.testing.assert_array_equal(a[field], b[field])


def test_a_wide_file_with_a_label_column_trains_with_exclude(tmp_path: Path, run_cli):
    rng = np.random.default_rng(5)
    frame = pd.DataFrame(
        np.round(rng.normal(size=(400, 3)).cumsum(0), 3),
        columns=["load", "temp", "hum"],
        index=pd.date_range("2020-01-01", periods=400, freq="h").rename("date"),
    )
    frame["state"] = np.where(frame["load"] > 0, "on", "off")
    csv = tmp_path / "plant.csv"
    frame.to_csv(csv)
    rc, _, err = run_cli(_train_argv(csv, tmp_path))
    assert rc == 2 and "'state'" in err and "--exclude" in err and "--columns" in err
    _, ckpt = _train(run_cli, csv, tmp_path / "cli", "--columns", "temp,load", "--exclude", "state")
    tok = tsvq.fit(frame, tmp_path / "api", columns=["temp", "load"], threads=1, **FLAGS)
    _same_weights(ckpt, tmp_path / "api" / "custom" / f"vqvae_{TAIL}.pth")
    assert tsvq.Tokenizer.from_pretrained(ckpt).columns == ["temp", "load"]
    # encode streams the file, reading the two chosen columns only (the text one never parsed)
    rc, _, err = run_cli(["encode", "--checkpoint", str(ckpt), "--out", str(tmp_path / "t.npz")])
    assert rc == 0, err
    tokens = np.load(tmp_path / "t.npz")
    assert tokens["columns"].tolist() == ["temp", "load"]
    x = frame[["temp", "load"]].to_numpy(np.float32)
    windows = np.stack([x[s : s + 32] for s in tokens["start"]])
    np.testing.assert_array_equal(tokens["codes"], tok.encode(windows).codes)


def test_sensor_data_without_dates_and_an_exported_folder_read_the_same_columns(
    tmp_path: Path, run_cli
):
    rng = np.random.default_rng(11)
    t = np.arange(500)
    sensors = pd.DataFrame(
        {
            "acc_x": np.round(np.sin(t / 6) + 0.1 * rng.normal(size=500), 4),
            "acc_y": np.round(np.cos(t / 9), 4),
            "unit": "g",
        }
    )
    csv = tmp_path / "imu.csv"
    sensors.to_csv(csv, index=False)
    _, ckpt = _train(run_cli, csv, tmp_path / "out", "--exclude", "unit")
    rc, _, err = run_cli(["export", "--checkpoint", str(ckpt), "--out", str(tmp_path / "tok")])
    assert rc == 0, err
    folder = tmp_path / "tok"
    card = (folder / "README.md").read_text()
    # the model card names the file, its columns, how it was read and the test figures
    assert "the file `imu.csv` (custom, sha256 " in card
    assert "columns acc_x, acc_y; read with --exclude unit" in card
    rc, table, err = run_cli(["eval", "--checkpoint", str(ckpt), "--json"])
    assert rc == 0, err
    mse = json.loads(table)["mse"]
    assert f"- test split: MSE {mse:.4g} per value in RevIN space over " in card
    # an exported folder keeps no path: --data_path names the file, the folder how to read it
    rc, _, err = run_cli(["eval", "--checkpoint", str(folder)])
    assert rc == 2 and "--data_path" in err
    for argv in (
        ["eval", "--checkpoint", str(folder), "--data_path", str(csv), "--json"],
        [
            "plot",
            "--checkpoint",
            str(folder),
            "--data_path",
            str(csv),
            "--out",
            str(tmp_path / "p"),
        ],
    ):
        rc, _, err = run_cli(argv)
        assert rc == 0, err
    assert sorted(p.name for p in (tmp_path / "p").iterdir()) == [
        "code_usage.png",
        "reconstructions.png",
    ]


def test_weekly_series_with_gaps_train_with_missing_interpolate(tmp_path: Path, run_cli):
    rng = np.random.default_rng(2)
    weeks = pd.date_range("2010-01-03", periods=300, freq="W")
    cases = np.round(50 + 10 * np.sin(np.arange(300) / 8) + rng.normal(size=300), 2)
    frame = pd.DataFrame({"week": weeks, "cases": cases})
    frame.loc[[20, 21, 22, 150, 299], "cases"] = np.nan  # gaps, one at the end
    csv = tmp_path / "flu.csv"
    frame.to_csv(csv, index=False)
    rc, _, err = run_cli(_train_argv(csv, tmp_path))
    assert rc == 2 and "a blank cell" in err and "--missing interpolate" in err
    _, ckpt = _train(run_cli, csv, tmp_path / "cli", "--missing", "interpolate")
    tsvq.fit(frame.set_index("week"), tmp_path / "api", missing="interpolate", threads=1, **FLAGS)
    _same_weights(ckpt, tmp_path / "api" / "custom" / f"vqvae_{TAIL}.pth")
    rc, _, err = run_cli(
        [
            "encode",
            "--checkpoint",
            str(ckpt),
            "--out",
            str(tmp_path / "t.npz"),
            "--missing",
            "interpolate",
        ]
    )
    assert rc == 0, err
    assert np.load(tmp_path / "t.npz")["mask"].any()  # the test split holds the gap at 299
