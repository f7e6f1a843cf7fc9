"""`tsvq train --config FILE` repeats a run from its record; flags on the command line win."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest


def _history(run: Path, name: str) -> list[dict[str, str]]:
    with open(run / "etth1" / f"{name}_history.csv", newline="") as fh:
        return [{k: v for k, v in row.items() if k != "seconds"} for row in csv.DictReader(fh)]


def _args(run: Path, name: str) -> dict:
    return json.loads((run / "etth1" / f"{name}_run.json").read_text())["args"]


@pytest.fixture(scope="module")
def first(tmp_path_factory: pytest.TempPathFactory, run_cli, tiny_args) -> Path:
    out = tmp_path_factory.mktemp("first")
    rc, _out, err = run_cli(
        [
            "train",
            "--dset",
            "etth1",
            "--n_epochs",
            "2",
            *tiny_args,
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
def test_a_run_repeats_from_its_record(
    first: Path, tmp_path: Path, source: str, run_cli, run_name: str
) -> None:
    rc, _out, err = run_cli(
        [
            "train",
            "--config",
            str(first / "etth1" / f"{run_name}{source}"),
            "--save_path",
            str(tmp_path),
        ]
    )
    assert rc == 0, err
    assert _history(tmp_path, run_name) == _history(
        first, run_name
    )  # same flags, same seed, one thread: same run
    again, before = _args(tmp_path, run_name), _args(first, run_name)
    assert again["lr"] == 3e-4 and again["channel"] == 6
    assert {k for k in before if before[k] != again[k]} == {"save_path", "config"}


def test_command_line_flags_override_the_record(
    first: Path, tmp_path: Path, run_cli, run_name: str
) -> None:
    rc, _out, err = run_cli(
        [
            "train",
            "--config",
            str(first / "etth1" / f"{run_name}_config.json"),
            "--n_epochs",
            "1",
            "--lr",
            "1e-3",
            "--save_path",
            str(tmp_path),
        ]
    )
    assert rc == 0, err
    args = _args(tmp_path, run_name)
    assert (args["n_epochs"], args["lr"], args["channel"]) == (1, 1e-3, 6)
    assert len(_history(tmp_path, run_name)) == 1


def test_the_original_flat_config_is_a_record(tmp_path: Path, run_cli) -> None:
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
    "not JSON": ("{lr: 1", "not JSON"),
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
def test_bad_record_is_one_line(tmp_path: Path, case: str, run_cli) -> None:
    text, needle = BAD[case]
    path = tmp_path / "record.json"
    if text is not None:
        path.write_text(text)
    rc, out, err = run_cli(["train", "--config", str(path), "--save_path", str(tmp_path / "o")])
    assert rc == 2 and err.count("\n") == 1 and needle in err, err
    assert f"--config {path}" in err
    assert not (tmp_path / "o").exists() and out == ""


def test_a_shipped_recipe_is_named_by_its_name(
    tmp_path: Path, run_cli, tiny_args, run_name: str
) -> None:
    """`--config fast` reads tsvq/recipes/fast.json, a flat object of train flags; a flag on
    the command line still wins."""
    from tsvq.cli.runconfig import RECIPES, recipe_names

    assert "fast" in recipe_names()
    recipe = json.loads((RECIPES / "fast.json").read_text())
    assert recipe and all(isinstance(k, str) for k in recipe)
    rc, _out, err = run_cli(
        [
            "train",
            "--config",
            "fast",
            "--dset",
            "etth1",
            "--n_epochs",
            "1",
            *tiny_args,
            "--save_path",
            str(tmp_path),
        ]
    )
    assert rc == 0, err
    args = _args(tmp_path, run_name)
    assert all(args[k] == v for k, v in recipe.items() if k != "n_epochs"), (args, recipe)
    assert args["n_epochs"] == 1


def test_an_unknown_recipe_names_the_ones_there_are(tmp_path: Path, run_cli) -> None:
    rc, _out, err = run_cli(["train", "--config", "fastest", "--save_path", str(tmp_path)])
    assert rc == 2 and err.count("\n") == 1
    assert "--config fastest: no such file" in err and "or a recipe: fast" in err, err
