"""`tsvq train --config FILE` repeats a run from its record; flags on the command line win."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from conftest import TINY
from robust_helpers import run_cli

NAME = "vqvae_cw96_ps16_ed32_cf4_cb256_model1"


def _history(run: Path) -> list[dict[str, str]]:
    with open(run / "etth1" / f"{NAME}_history.csv", newline="") as fh:
        return [{k: v for k, v in row.items() if k != "seconds"} for row in csv.DictReader(fh)]


def _args(run: Path) -> dict:
    return json.loads((run / "etth1" / f"{NAME}_run.json").read_text())["args"]


@pytest.fixture(scope="module")
def first(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("first")
    rc, _out, err = run_cli(
        [
            "train",
            "--dset",
            "etth1",
            "--n_epochs",
            "2",
            *TINY,
            "--threads",
            "1",
            "--lr",
            "3e-4",
            "--channel",
            "6",
            "--save_path",
            str(out),
        ]
    )
    assert rc == 0, err
    return out


@pytest.mark.parametrize("source", ["_config.json", "_run.json", ".pth"])
def test_a_run_repeats_from_its_record(first: Path, tmp_path: Path, source: str) -> None:
    rc, _out, err = run_cli(
        [
            "train",
            "--config",
            str(first / "etth1" / f"{NAME}{source}"),
            "--save_path",
            str(tmp_path),
        ]
    )
    assert rc == 0, err
    assert _history(tmp_path) == _history(first)  # same flags, same seed, one thread: same run
    again, before = _args(tmp_path), _args(first)
    assert again["lr"] == 3e-4 and again["channel"] == 6
    assert {k for k in before if before[k] != again[k]} == {"save_path", "config"}


def test_command_line_flags_override_the_record(first: Path, tmp_path: Path) -> None:
    rc, _out, err = run_cli(
        [
            "train",
            "--config",
            str(first / "etth1" / f"{NAME}_config.json"),
            "--n_epochs",
            "1",
            "--lr",
            "1e-3",
            "--save_path",
            str(tmp_path),
        ]
    )
    assert rc == 0, err
    args = _args(tmp_path)
    assert (args["n_epochs"], args["lr"], args["channel"]) == (1, 1e-3, 6)
    assert len(_history(tmp_path)) == 1


def test_the_original_flat_config_is_a_record(tmp_path: Path) -> None:
    """The original trainer's nine-key _config.json: train flags, and n_channels (the data's)."""
    flat = {
        "patch_size": 16,
        "embedding_dim": 16,
        "num_embeddings": 64,
        "compression_factor": 4,
        "block_hidden_size": 32,
        "num_residual_layers": 1,
        "res_hidden_size": 16,
        "commitment_cost": 0.25,
        "n_channels": 7,
    }
    (tmp_path / "c.json").write_text(json.dumps(flat, indent=4))
    rc, _out, err = run_cli(
        [
            "train",
            "--config",
            str(tmp_path / "c.json"),
            "--dset",
            "etth1",
            "--context_points",
            "96",
            "--n_epochs",
            "1",
            "--max_steps_per_epoch",
            "4",
            "--save_path",
            str(tmp_path / "o"),
        ]
    )
    assert rc == 0, err
    # the new run's own _config.json is the same nine-key dict
    saved = json.loads(next((tmp_path / "o" / "etth1").glob("*_config.json")).read_text())
    assert saved == flat


BAD = {
    "missing file": (None, "no such file"),
    "not JSON": ("{lr: 1", "not a JSON run record"),
    "a list": ("[1, 2]", "a run record is a JSON object, got list"),
    "args not an object": ('{"args": 3}', "its 'args' is not an object"),
    "another record version": (
        '{"format": "tsvq-run", "format_version": 99, "args": {}}',
        "run-record version 99",
    ),
    "unknown field": ('{"args": {"lr": 0.001, "bogus": 1}}', "unknown field(s) 'bogus'"),
    "bad value": ('{"lr": "fast"}', "argument --lr: expected a number, got 'fast'"),
    "value out of range": ('{"batch_size": 0}', "argument --batch_size: must be >= 1"),
    "nested value": ('{"lr": [1]}', "lr holds [1]"),
    "bad choice (resume is never repeated)": (
        '{"resume": 1, "quantizer": "nope"}',
        "argument --quantizer",
    ),
}


@pytest.mark.parametrize("case", list(BAD), ids=list(BAD))
def test_bad_record_is_one_line(tmp_path: Path, case: str) -> None:
    text, needle = BAD[case]
    path = tmp_path / "record.json"
    if text is not None:
        path.write_text(text)
    rc, out, err = run_cli(["train", "--config", str(path), "--save_path", str(tmp_path / "o")])
    assert rc == 2 and err.count("\n") == 1 and needle in err, err
    assert f"--config {path}" in err
    assert not (tmp_path / "o").exists() and out == ""
