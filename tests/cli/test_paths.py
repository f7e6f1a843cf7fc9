"""One path rule for every command (docs/robustness.md, "Paths"): a relative --data_path lies
under --root_path when one is given, else under the working folder; a recorded run names its
data by resolved path plus sha256, and a file changed since is said, not read."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from tsvq.data.registry import resolve_path
from tsvq.data.source import sha256_of
from tsvq.errors import TsvqError

MINE = "vqvae_mine_cw96_ps16_ed32_cf4_cb256_model1"  # a run on data/mine.csv
SHORT = ["--context_points", "96", "--n_epochs", "1", "--max_steps_per_epoch", "1"]


def _csv(path: Path, rows: int = 400, phase: float = 0.0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = ["date,a,OT"] + [
        f"2020-01-{1 + i // 24:02d} {i % 24:02d}:00:00,{np.sin(i / 7 + phase):.4f},"
        f"{np.cos(i / 5):.4f}"
        for i in range(rows)
    ]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_a_relative_data_path_lies_under_root_path_whatever_the_working_folder_holds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, run_cli
) -> None:
    monkeypatch.chdir(tmp_path)
    _csv(tmp_path / "x.csv")
    root = tmp_path / "root"
    assert resolve_path("custom", str(root), "x.csv") == root / "x.csv"  # never ./x.csv
    assert resolve_path("custom", None, "x.csv") == Path("x.csv")
    rc, _out, err = run_cli(
        ["train", "--dset", "custom", "--root_path", str(root), "--data_path", "x.csv", *SHORT]
    )
    assert rc == 2 and f"data file not found: {root}/x.csv" in err, err
    with pytest.raises(TsvqError, match="--root_path has no effect with the absolute data path"):
        resolve_path("custom", str(root), str(tmp_path / "x.csv"))
    with pytest.raises(TsvqError, match="--data_path is for --dset custom; etth1 is found by name"):
        resolve_path("etth1", None, "x.csv")


@pytest.fixture(scope="module")
def custom_run(tmp_path_factory: pytest.TempPathFactory, run_cli) -> Path:
    """A run on ./data/mine.csv (a relative --data_path), trained in its own folder."""
    home = tmp_path_factory.mktemp("custom_run")
    _csv(home / "data" / "mine.csv")

    here = os.getcwd()
    os.chdir(home)
    try:
        rc, _out, err = run_cli(
            ["train", "--dset", "custom", "--data_path", "data/mine.csv", *SHORT, "--save_path=o"]
        )
    finally:
        os.chdir(here)
    assert rc == 0, err
    return home


def test_the_record_names_its_data_by_resolved_path_and_sha256(custom_run: Path) -> None:
    run = json.loads((custom_run / "o" / "custom" / "mine" / f"{MINE}_run.json").read_text())
    data = custom_run / "data" / "mine.csv"
    assert run["data"]["data_path"] == str(data.resolve())
    assert run["data"]["sha256"] == sha256_of(data)
    assert run["args"]["data_path"] == "data/mine.csv"  # the flag as typed
    ckpt = torch.load(custom_run / "o" / "custom" / "mine" / f"{MINE}.pth", weights_only=True)
    assert ckpt["tsvq"]["data"]["sha256"] == sha256_of(data)


@pytest.mark.parametrize("record", ["_run.json", ".pth", "_config.json"])
def test_config_from_another_folder_reads_the_recorded_file(
    custom_run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, record: str, run_cli
) -> None:
    monkeypatch.chdir(tmp_path)  # no data/mine.csv here
    _csv(tmp_path / "data" / "mine.csv", phase=1.0)  # ... or another one: either way not read
    rc, out, err = run_cli(
        ["train", "--config", str(custom_run / "o" / "custom" / "mine" / f"{MINE}{record}")]
    )
    assert rc == 0, err
    again = json.loads((tmp_path / f"o/custom/mine/{MINE}_run.json").read_text())  # save_path o
    assert again["data"]["data_path"] == str((custom_run / "data" / "mine.csv").resolve())


@pytest.fixture
def changed_run(custom_run: Path, tmp_path: Path) -> Path:
    """A copy of the run whose data file then changed (other values, same rows)."""

    home = tmp_path / "changed"
    shutil.copytree(custom_run / "data", home / "data")
    record = json.loads((custom_run / "o" / "custom" / "mine" / f"{MINE}_run.json").read_text())
    record["data"]["data_path"] = str((home / "data" / "mine.csv").resolve())
    (home / "run.json").write_text(json.dumps(record))
    _csv(home / "data" / "mine.csv", phase=2.0)
    return home


def test_a_repeated_run_on_changed_bytes_is_refused_until_the_file_is_named(
    changed_run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, run_cli
) -> None:
    monkeypatch.chdir(tmp_path)
    rc, out, err = run_cli(["train", "--config", str(changed_run / "run.json")])
    assert rc == 2 and err.count("\n") == 1, err
    assert "the digest recorded when the run read it: the file changed since" in err
    assert not (tmp_path / "o").exists()
    config, data = str(changed_run / "run.json"), str(changed_run / "data" / "mine.csv")
    rc, out, err = run_cli(["train", "--config", config, "--data_path", data])
    assert rc == 0, err


@pytest.mark.parametrize("command", ["eval", "encode"])
def test_eval_and_encode_refuse_a_recorded_file_that_changed(
    custom_run: Path, tmp_path: Path, command: str, run_cli
) -> None:

    shutil.copytree(custom_run, tmp_path / "run")
    ckpt = tmp_path / "run" / "o" / "custom" / "mine" / f"{MINE}.pth"
    data = custom_run / "data" / "mine.csv"
    out = ["--out", str(tmp_path / "t.npz")] if command == "encode" else []
    assert run_cli([command, "--checkpoint", str(ckpt), *out])[0] == 0
    original = data.read_bytes()
    try:
        _csv(data, phase=3.0)
        rc, _out, err = run_cli([command, "--checkpoint", str(ckpt), *out])
        assert rc == 2 and "the file changed since" in err and err.count("\n") == 1, err
        rc, _out, err = run_cli([command, "--checkpoint", str(ckpt), f"--data_path={data}", *out])
        assert rc == 0, err  # named on the command line: read as it is now
        rc, _out, err = run_cli([command, "--checkpoint", str(ckpt), "--root_path", "/", *out])
        assert rc == 2 and "--root_path has no effect with the absolute data path" in err, err
    finally:
        data.write_bytes(original)
