"""Numbers at extremes, round 3 (issue 25, class 5): finite float32 values whose squares overflow
float32 (about 1.8e19 and up) train, evaluate, encode and decode to finite figures, and every
JSON tsvq prints or writes is valid JSON (no NaN or Infinity)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tsvq.files import json_text

HUGE = "vqvae_huge_cw96_ps16_ed32_cf4_cb256_model1"  # a run on huge.csv


def _strict(text: str) -> object:
    """Parse as JSON proper: NaN, Infinity and -Infinity are no JSON."""

    def refuse(constant: str) -> None:
        raise ValueError(f"{constant} is not JSON")

    return json.loads(text, parse_constant=refuse)


@pytest.fixture(scope="module")
def huge(tmp_path_factory: pytest.TempPathFactory, run_cli) -> Path:
    """A run on a series of amplitude 1e20 (--scaler none): RevIN sees it as it is."""
    home = tmp_path_factory.mktemp("huge")
    rows = [
        f"2020-01-{1 + i // 24:02d} {i % 24:02d}:00:00,{1e20 * np.sin(i / 6):.6e},"
        f"{3e19 * np.cos(i / 9) + 2e20:.6e}"
        for i in range(400)
    ]
    (home / "huge.csv").write_text("date,a,OT\n" + "\n".join(rows) + "\n")
    rc, _out, err = run_cli(
        ["train", "--dset", "custom", "--data_path", str(home / "huge.csv"), "--scaler", "none"]
        + ["--context_points", "96", "--n_epochs", "1", "--max_steps_per_epoch", "3"]
        + ["--save_path", str(home / "o")]
    )
    assert rc == 0, err
    return home


def test_eval_of_values_whose_squares_overflow_float32_is_finite_and_valid_json(
    huge: Path, run_cli
) -> None:
    rc, out, err = run_cli(
        ["eval", "--checkpoint", str(huge / "o/custom/huge" / f"{HUGE}.pth"), "--json"]
    )
    assert rc == 0, err
    result = _strict(out)
    assert isinstance(result, dict)
    for key in ("mse", "mae", "perplexity"):
        assert np.isfinite(result[key]), (key, result[key])
    for channel in result["per_channel"]:
        assert all(np.isfinite(channel[k]) for k in ("mse", "mse_original", "mae_original"))
    assert result["mse"] < 10  # RevIN space: the windows were not zeroed or blown up


def test_tokens_of_such_values_carry_finite_statistics_and_decode_back(
    huge: Path, tmp_path: Path, run_cli
) -> None:
    ckpt = str(huge / "o/custom/huge" / f"{HUGE}.pth")
    rc, _out, err = run_cli(["encode", "--checkpoint", ckpt, "--out", str(tmp_path / "t.npz")])
    assert rc == 0, err
    with np.load(tmp_path / "t.npz") as tokens:
        assert np.isfinite(tokens["mean"]).all() and np.isfinite(tokens["std"]).all()
        assert (tokens["std"] > 1e18).all()  # the windows' own spread, not eps or inf
    rc, _out, err = run_cli(
        ["decode", "--checkpoint", ckpt, "--tokens", str(tmp_path / "t.npz")]
        + ["--out", str(tmp_path / "x.npz")]
    )
    assert rc == 0, err
    with np.load(tmp_path / "x.npz") as back:
        assert np.isfinite(back["x"]).all() and np.abs(back["x"]).max() > 1e19


def test_json_text_writes_what_is_not_finite_as_null() -> None:
    obj = {"a": float("inf"), "b": [float("nan"), 1.5, -float("inf")], "c": (2, "x")}
    assert _strict(json_text(obj)) == {"a": None, "b": [None, 1.5, None], "c": [2, "x"]}
