"""Training a forecaster: the tokenizer stays frozen, a killed run resumes to the same weights
and history as an uninterrupted one, and the files it writes read back exactly."""

from __future__ import annotations

import csv
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import torch

from tsvq import Tokenizer
from tsvq.data.windows import DataSpec, load
from tsvq.errors import TsvqError
from tsvq.files import stale_temporaries
from tsvq.forecast.config import FitConfig
from tsvq.forecast.fit import fit, model_config
from tsvq.forecast.inputs import fingerprint
from tsvq.forecast.record import ForecastPaths, build, load_record
from tsvq.run import checkpoint

pytestmark = pytest.mark.dataset("illness")
SMALL = {"d_model": 16, "n_heads": 2, "n_layers": 1, "d_ff": 32, "stats_hidden": 32}


def test_the_tokenizer_stays_frozen(tokenizer: Path, tmp_path: Path) -> None:
    tok = Tokenizer.from_pretrained(tokenizer)  # an EMA codebook: training mode would move it
    before = {k: v.clone() for k, v in tok.model.state_dict().items()}
    print_before = fingerprint(tok)
    data = load(DataSpec("illness", None, None, 96))
    cfg = model_config(tok, 96, 24, id_embedding=True, **SMALL)
    fcfg = FitConfig(n_epochs=2, batch_size=32, max_steps_per_epoch=3, lr=1e-2)
    result = fit(tok, data, cfg, fcfg, ForecastPaths(tmp_path, "f"), source=str(tokenizer))
    assert result.best_epoch >= 1
    after = tok.model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before), "the tokenizer's weights moved"
    assert fingerprint(tok) == print_before and not tok.model.training
    record = load_record(tmp_path / "f.pth")
    assert record.tokenizer.fingerprint == print_before
    assert not any("codebook" in k or "quantizer" in k for k in record.state)
    # the learned id vectors did train while the codebook stayed the tokenizer's
    assert float(record.state["ids.weight"].abs().sum()) > 0


def test_bf16_autocast_trains(tokenizer: Path, tmp_path: Path) -> None:
    tok = Tokenizer.from_pretrained(tokenizer)
    data = load(DataSpec("illness", None, None, 96))
    fcfg = FitConfig(n_epochs=1, batch_size=32, max_steps_per_epoch=2, amp=True)
    result = fit(tok, data, model_config(tok, 96, 8, **SMALL), fcfg, ForecastPaths(tmp_path, "f"))
    assert 0 < result.best_mse < 100


class Resumed:
    """A run of three epochs of 4 steps with dropout (the RNG state crosses each boundary), in
    a folder of its own: its flags, its files, its history, and the run as its own process."""

    def __init__(self, tokenizer: Path, flags: tuple[str, ...], name: str, env: Callable) -> None:
        self.flags = ["--checkpoint", str(tokenizer), *flags, "--n_epochs", "3", "--seed", "7"]
        self.name, self.env = name, env

    def argv(self, save: Path) -> list[str]:
        return ["forecast", "train", *self.flags, "--save_path", str(save)]

    def paths(self, save: Path) -> dict[str, Path]:
        d = save / "illness"
        ends = (("best", ".pth"), ("last", "_last.pth"), ("history", "_history.csv"))
        return {k: d / f"{self.name}{s}" for k, s in ends}

    def history(self, save: Path) -> list[dict[str, str]]:
        with open(self.paths(save)["history"], newline="") as fh:
            return [{k: v for k, v in r.items() if k != "seconds"} for r in csv.DictReader(fh)]

    def process(self, argv: list[str]) -> tuple[int, str, str]:
        proc = subprocess.run(
            [sys.executable, "-m", "tsvq", *argv],
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=300,
        )
        return proc.returncode, proc.stdout, proc.stderr


@pytest.fixture(scope="module")
def resumed(
    tokenizer: Path, forecast_flags: tuple[str, ...], forecaster_name: str, subprocess_env
) -> Resumed:
    return Resumed(tokenizer, forecast_flags, forecaster_name, subprocess_env)


@pytest.fixture(scope="module")
def reference(resumed: Resumed, tmp_path_factory: pytest.TempPathFactory) -> Path:
    save = tmp_path_factory.mktemp("fc_reference")
    rc, _out, err = resumed.process(resumed.argv(save))
    assert rc == 0, err
    return save


def test_sigkill_then_resume_matches_an_uninterrupted_run(
    resumed: Resumed, reference: Path, tmp_path: Path
) -> None:
    files = resumed.paths(tmp_path)
    proc = subprocess.Popen(
        [sys.executable, "-m", "tsvq", *resumed.argv(tmp_path)],
        env=resumed.env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    for _ in range(6000):  # until the state after epoch 1 is saved (bounded: two minutes)
        if files["last"].exists():
            break
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    out, _err = proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    saved = checkpoint.load(files["last"])["epoch"] + 1
    # killed before the end; the epoch after the saved one may have printed its line before
    # its state was written (the kill can land between the two), none after it
    assert saved < 3 and f"Epoch   {saved + 2}/3" not in out, out
    rc, out, err = resumed.process([*resumed.argv(tmp_path), "--resume"])
    assert rc == 0, err
    assert f"Resuming from {files['last']} after epoch {saved}" in out
    assert resumed.history(tmp_path) == resumed.history(reference)  # every float's repr
    want = resumed.paths(reference)
    for kind in ("best", "last"):
        got, ref = load_record(files[kind]), load_record(want[kind])
        assert got.epoch == ref.epoch
        assert all(torch.equal(got.state[k], v) for k, v in ref.state.items()), kind
    got, ref = load_record(files["last"]).resume, load_record(want["last"]).resume
    for a, b in zip(got.optimizer["state"].values(), ref.optimizer["state"].values(), strict=True):
        assert all(torch.equal(a[k], b[k]) for k in b)
    assert not any(stale_temporaries(p) for p in files.values())


@pytest.mark.parametrize(
    ("flag", "value", "needle"),
    [
        ("--lr", "0.01", "lr=0.001, now 0.01"),
        ("--seed", "8", "seed=7, now 8"),
        ("--n_layers", "2", "n_layers=1, now 2"),
        ("--scaler", "minmax", "scaler="),
    ],
)
def test_resume_with_other_settings_is_refused_and_writes_nothing(
    resumed: Resumed, reference: Path, flag: str, value: str, needle: str, run_cli, tree
) -> None:
    before = tree(reference)
    rc, _out, err = run_cli([*resumed.argv(reference), "--resume", flag, value])
    assert rc == 2 and err.count("\n") == 1 and needle in err, err
    assert tree(reference) == before


def test_the_record_reads_back_and_an_edit_is_named(forecaster: Path, tmp_path: Path) -> None:
    record = load_record(forecaster)
    assert (record.model.context_points, record.model.horizon, record.model.inputs) == (
        96,
        24,
        "codes",
    )
    assert record.data.columns[-1] == "OT" and len(record.data.columns) == 7
    assert record.fit.n_epochs == 2 and record.resume is None
    raw = checkpoint.load(forecaster)
    raw["forecast"]["data"]["scaler"]["shift"][0] += 1.0
    edited = tmp_path / "edited.pth"
    checkpoint.save(edited, raw)
    with pytest.raises(TsvqError, match=r"forecast\['data'\]\['scaler'\]\['shift'\] was changed"):
        load_record(edited)
    del raw["forecast"]["digest"]  # the field checks alone: the edit is a valid scaler
    checkpoint.save(edited, raw)
    assert load_record(edited).data.scaler.shift[0] == record.data.scaler.shift[0] + 1.0
    raw["config"]["horizon"] = 12  # weights of another shape than the config says
    checkpoint.save(edited, raw)
    codebook = Tokenizer.from_pretrained(record.tokenizer.source).codebook
    with pytest.raises(
        TsvqError, match=r"head.weight has shape \(24, 96\), the configuration needs \(12, 96\)"
    ):
        build(load_record(edited), codebook, edited)
