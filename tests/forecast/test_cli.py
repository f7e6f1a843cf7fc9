"""`tsvq forecast train | eval | predict`: what they print and write, and every refusal one line
with exit status 2 and nothing written."""

from __future__ import annotations

import csv
import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tsvq.data.table import read_table
from tsvq.forecast.evaluate import forecasts, load_forecaster

pytestmark = pytest.mark.dataset("illness")


def test_eval_scores_every_test_window(forecaster: Path, run_cli) -> None:
    rc, out, err = run_cli(["forecast", "eval", "--checkpoint", str(forecaster), "--json"])
    assert rc == 0, err
    r = json.loads(out)
    # illness: 193 test rows after 96 of context, horizon 24: 193 - 24 + 1 windows, none dropped
    assert (r["windows"], r["channels"], r["horizon"], r["context_points"]) == (170, 7, 24, 96)
    per = r["per_channel"]
    assert [c["channel"] for c in per][-1] == "OT" and len(per) == 7
    assert np.isclose(np.mean([c["mse"] for c in per]), r["mse"], rtol=1e-9)
    assert np.isclose(np.mean([c["mae"] for c in per]), r["mae"], rtol=1e-9)
    rc, table, _err = run_cli(["forecast", "eval", "--checkpoint", str(forecaster)])
    assert rc == 0 and table.startswith("illness test split: 170 windows x 7 channel(s)")
    assert f"{r['mse']:>12.6f}{r['mae']:>12.6f}" in table.splitlines()[-2]
    assert "drops the last partial batch" in table


def test_predict_writes_the_horizon_in_original_units(
    forecaster: Path, tmp_path: Path, run_cli, illness_csv: Path
) -> None:
    out = tmp_path / "forecast.csv"
    argv = ["forecast", "predict", "--checkpoint", str(forecaster), "--data_path", str(illness_csv)]
    rc, printed, err = run_cli([*argv, "--out", str(out), "--horizon", "24"])
    assert rc == 0, err
    assert printed.startswith("Forecast 24 steps x 7 channel(s) after the last row")
    frame = pd.read_csv(out)
    table = read_table(illness_csv)
    assert list(frame.columns) == ["step", "date", *table.columns]
    assert frame["step"].tolist() == list(range(1, 25))
    week = np.timedelta64(7, "D")
    assert pd.Timestamp(frame["date"][0]) == pd.Timestamp(table.dates[-1] + week)  # weekly data
    # the values are the library's forecast of the file's last window, in the file's units
    loaded = load_forecaster(forecaster)
    scaler = loaded.record.data.scaler
    window = scaler.transform(table.values[-96:]).T[None]
    ((_, y_hat),) = list(forecasts(loaded, window))
    assert np.abs(scaler.inverse(y_hat.numpy().T)).max() > 1e5  # original units, not scaled
    # compared in scaled units: a float32 forecast on another thread count differs in its ulps
    got = scaler.transform(frame[table.columns].to_numpy())
    np.testing.assert_allclose(got, y_hat.numpy().T, atol=2e-5)


def test_predict_reads_the_channels_by_name(
    forecaster: Path, tmp_path: Path, run_cli, illness_csv: Path
) -> None:
    frame = pd.read_csv(illness_csv)
    shuffled = tmp_path / "shuffled.csv"
    frame[[frame.columns[0], *reversed(frame.columns[1:])]].to_csv(shuffled, index=False)
    outs = []
    for i, path in enumerate((illness_csv, shuffled)):
        out = tmp_path / f"f{i}.csv"
        argv = ["forecast", "predict", "--checkpoint", str(forecaster), "--data_path", str(path)]
        assert run_cli([*argv, "--out", str(out)])[0] == 0
        outs.append(out.read_text())
    assert outs[0] == outs[1]


def test_train_on_one_channel(
    tokenizer: Path, tmp_path: Path, run_cli, forecast_flags: tuple[str, ...], forecaster_name: str
) -> None:
    argv = ["forecast", "train", "--checkpoint", str(tokenizer), *forecast_flags, "--n_epochs", "1"]
    rc, out, err = run_cli([*argv, "--features", "S", "--save_path", str(tmp_path)])
    assert rc == 0, err
    assert "illness, 1 channel(s), context 96, horizon 24" in out
    rc, out, _err = run_cli(
        [
            "forecast",
            "eval",
            "--checkpoint",
            str(tmp_path / "illness" / f"{forecaster_name}.pth"),
            "--json",
        ]
    )
    assert rc == 0 and json.loads(out)["per_channel"][0]["channel"] == "OT"
    with open(tmp_path / "illness" / f"{forecaster_name}_history.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["epoch"] for r in rows] == ["1"] and float(rows[0]["valid_mse"]) > 0


@pytest.fixture(scope="module")
def other_tokenizers(
    tmp_path_factory: pytest.TempPathFactory, run_cli, tokenizer_flags: tuple[str, ...]
) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("other_tokenizers")
    made = {}
    for name, extra in (("seed 3", ["--seed", "3"]), ("no revin", ["--revin", "0"])):
        save = out / name.replace(" ", "_")
        rc, _o, err = run_cli(
            [
                "train",
                *tokenizer_flags,
                "--max_steps_per_epoch",
                "2",
                *extra,
                "--save_path",
                str(save),
            ]
        )
        assert rc == 0, err
        made[name] = save / "illness" / "vqvae_cw96_ps16_ed32_cf4_cb256_model1.pth"
    return made


def _bad_columns_dir(root: Path, illness_csv: Path) -> Path:
    """A data directory whose illness file has three channels, vouched for as edited on purpose
    (a registered file that fails its checksum is refused before its channels are read)."""
    frame = pd.read_csv(illness_csv)
    (root / "illness").mkdir(parents=True)
    path = root / "illness" / "national_illness.csv"
    frame.iloc[:, :4].to_csv(path, index=False)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    path.with_name(path.name + ".sha256").write_text(f"{digest}  {path}\n")
    return root


REFUSALS = {
    # name -> (argv after `forecast`, with {fc} {tok} {other} {norevin} {tmp} {etth1}, the needle)
    "eval: a horizon not trained for": (
        "eval --checkpoint {fc} --horizon 48",
        "--horizon 48: forecaster {fc} was trained for horizon 24; train one with --horizon 48",
    ),
    "predict: a horizon not trained for": (
        "predict --checkpoint {fc} --horizon 96 --data_path {illness} --out {tmp}/f.csv",
        "was trained for horizon 24",
    ),
    "eval: another tokenizer": (
        "eval --checkpoint {fc} --tokenizer {other}",
        "but forecaster {fc} was trained on the codes of tokenizer",
    ),
    "predict: another tokenizer": (
        "predict --checkpoint {fc} --tokenizer {other} --data_path {illness} --out {tmp}/f.csv",
        "give that tokenizer with --tokenizer",
    ),
    "predict: other channels": (
        "predict --checkpoint {fc} --data_path {etth1} --out {tmp}/f.csv",
        "has the columns HUFL, HULL, MUFL, MULL, LUFL, LULL, OT; forecaster {fc} was trained on",
    ),
    "eval: other channels": (
        "eval --checkpoint {fc} --root_path {badcols}",
        "gives the channels % WEIGHTED ILI, %UNWEIGHTED ILI, AGE 0-4; forecaster {fc} was "
        "trained on",
    ),
    "eval: --data_path for a registered dataset": (
        "eval --checkpoint {fc} --data_path {illness}",
        "--data_path is for a forecaster trained on --dset custom",
    ),
    "eval: a tokenizer given as the forecaster": (
        "eval --checkpoint {tok}",
        "is a tokenizer checkpoint (tsvq train), not a forecaster checkpoint",
    ),
    "predict: too few rows": (
        "predict --checkpoint {fc} --data_path {short} --out {tmp}/f.csv",
        "has 50 rows; forecaster {fc} reads the last context_points=96 rows",
    ),
    "predict: --out a directory": (
        "predict --checkpoint {fc} --data_path {illness} --out {tmp}",
        "is a directory",
    ),
    "train: a tokenizer without RevIN": (
        "train --checkpoint {norevin} --context_points 96 --save_path {tmp}/o",
        "this tokenizer was trained without RevIN (tsvq train --revin 0); "
        "train one with tsvq train --revin 1",
    ),
    "train: a horizon too long for the data": (
        "train --checkpoint {tok} --context_points 96 --horizon 200 --save_path {tmp}/o",
        "the val split has 193 rows, too short for context_points=96 + horizon=200",
    ),
    "train: a context the patches do not divide": (
        "train --checkpoint {tok} --context_points 100 --save_path {tmp}/o",
        "--context_points 100 must be a multiple of the tokenizer's patch_size 16",
    ),
    "train: heads that do not divide the width": (
        "train --checkpoint {tok} --context_points 96 --d_model 16 --n_heads 3 --save_path {tmp}/o",
        "--n_heads must be a divisor of d_model=16, got 3",
    ),
    "train: custom without a file": (
        "train --checkpoint {tok} --dset custom --save_path {tmp}/o",
        "--dset custom needs --data_path",
    ),
}


@pytest.mark.parametrize("name", sorted(REFUSALS))
def test_refusals_are_one_line_exit_2_and_write_nothing(
    name: str,
    forecaster: Path,
    tokenizer: Path,
    other_tokenizers: dict[str, Path],
    tmp_path: Path,
    run_cli,
    tree,
    data_dir: Path,
    illness_csv: Path,
) -> None:
    short = tmp_path / "short.csv"
    pd.read_csv(illness_csv).iloc[:50].to_csv(short, index=False)
    places = {
        "fc": forecaster,
        "tok": tokenizer,
        "other": other_tokenizers["seed 3"],
        "norevin": other_tokenizers["no revin"],
        "tmp": tmp_path,
        "illness": illness_csv,
        "etth1": data_dir / "ETT-small" / "ETTh1.csv",
        "short": short,
        "badcols": _bad_columns_dir(tmp_path / "badcols", illness_csv),
    }
    argv, needle = REFUSALS[name]
    watched = [tmp_path, forecaster.parent, tokenizer.parent]
    before = [tree(d) for d in watched]
    rc, out, err = run_cli(["forecast", *argv.format(**places).split()])
    assert rc == 2, (out, err)
    assert err.count("\n") == 1 and "Traceback" not in err, err
    assert err.startswith("tsvq forecast: error: ") and needle.format(**places) in err, err
    assert [tree(d) for d in watched] == before  # nothing written, nothing half-written
