"""tsvq eval --dset: a tokenizer on data it was not trained on, scaled and baselined on that
data's own training split; without --dset, eval is what it was."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from tsvq.data.table import read_table
from tsvq.data.windows import Scaler, prepare
from tsvq.report.evaluate import evaluate
from tsvq.report.zero_shot import foreign_data
from tsvq.tokens.tokenizer import Tokenizer


def test_eval_on_another_dataset(tiny_run: Path, run_cli, data_dir: Path) -> None:
    rc, out, err = run_cli(["eval", "--checkpoint", str(tiny_run), "--dset", "etth2", "--json"])
    assert rc == 0, err
    r = json.loads(out)
    z = r["zero_shot"]
    assert (r["dset"], r["channels"], z["dset"], z["trained_on"]) == ("etth2", 7, "etth2", "etth1")
    assert z["scaler"] == "standard" and z["scaler_fitted_on"] == "the training split of etth2"
    tok = Tokenizer.from_pretrained(tiny_run)
    assert z["fingerprint"] == tok.fingerprint
    # the figures are evaluate's on ETTh2 scaled by ETTh2's own training rows (12 months)
    data, _ = foreign_data(tok, "etth2")
    rows = pd.read_csv(data_dir / "ETT-small" / "ETTh2.csv").iloc[: 12 * 30 * 24, 1:]
    own = Scaler.fit("standard", rows.to_numpy("float32"))
    assert data.scaler.shift == pytest.approx(own.shift, rel=1e-5)
    assert r["mse"] == pytest.approx(evaluate(tok, data).mse, rel=1e-9)
    assert r["baseline"]["kmeans_mse"] > 0 and r["baseline"]["window_mean_mse"] > r["mse"]
    rc, text, err = run_cli(["eval", "--checkpoint", str(tiny_run), "--dset", "etth2"])
    assert rc == 0 and text.startswith("zero-shot: ") and "fitted on the training split" in text


def test_without_dset_eval_is_unchanged(tiny_run: Path, run_cli) -> None:
    rc, out, err = run_cli(["eval", "--checkpoint", str(tiny_run), "--json"])
    assert rc == 0, err
    r = json.loads(out)
    assert "zero_shot" not in r and r["dset"] == "etth1"
    tok = Tokenizer.from_pretrained(tiny_run)
    spec = tok.data.spec
    data = prepare(read_table(Path(str(spec.data_path)), "etth1"), spec, scaler=tok.scaler)
    assert r["mse"] == pytest.approx(evaluate(tok, data).mse, rel=1e-9)


def test_a_custom_file_of_other_channels(
    tiny_run: Path, run_cli, data_dir: Path, tmp_path: Path
) -> None:
    """Three channels under other names, for a tokenizer of seven: channel-independent."""
    table = pd.read_csv(data_dir / "ETT-small" / "ETTm2.csv", nrows=3000).iloc[:, :4]
    table.columns = ["date", "u", "v", "w"]
    table.to_csv(tmp_path / "three.csv", index=False)
    argv = ["eval", "--checkpoint", str(tiny_run), "--dset", "custom", "--json"]
    rc, out, err = run_cli([*argv, "--data_path", str(tmp_path / "three.csv")])
    assert rc == 0, err
    r = json.loads(out)
    assert r["channels"] == 3 and [c["channel"] for c in r["per_channel"]] == ["u", "v", "w"]
    assert r["zero_shot"]["scaler_fitted_on"] == "the training split of three.csv"
