"""The trainer end to end: the specification's outputs, log lines, units and flags."""

from __future__ import annotations

import csv
import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from tsvq import Tokenizer
from tsvq.cli import build_parser, main
from tsvq.data.windows import epoch_order
from tsvq.report.evaluate import evaluate, load_split_data
from tsvq.run import checkpoint

SPEC_DEFAULTS = {
    "dset": "ettm1",
    "context_points": 512,
    "batch_size": 64,
    "scaler": "standard",
    "features": "M",
    "patch_size": 16,
    "embedding_dim": 32,
    "num_embeddings": 256,
    "compression_factor": 4,
    "block_hidden_size": 64,
    "num_residual_layers": 2,
    "res_hidden_size": 32,
    "commitment_cost": 0.25,
    "n_epochs": 100,
    "lr": 1e-4,
    "weight_decay": 1e-4,
    "revin": 1,
    "amp": 1,
    "save_path": "saved_models/vqvae_only/",
    "model_id": 1,
    "num_workers": 0,
}
NUM = r"-?\d+\.\d{6}"
EPOCH_LINE = re.compile(
    rf"^Epoch +\d+/\d+ \| Train Loss: {NUM} \(VQ: {NUM}, Recon: {NUM}, Perp: \d+\.\d\d\) "
    rf"\| Valid Loss: {NUM} \(VQ: {NUM}, Recon: {NUM}, Perp: \d+\.\d\d\)$"
)
SPEC_HISTORY = [
    "epoch",
    "train_loss",
    "valid_loss",
    "train_vq_loss",
    "valid_vq_loss",
    "train_recon_loss",
    "valid_recon_loss",
]


def test_every_spec_flag_has_its_name_and_default():
    args = build_parser().parse_args(["train"])
    for name, default in SPEC_DEFAULTS.items():
        assert getattr(args, name) == default, name
    assert args.channel is None and args.target == "OT"


def test_outputs_are_the_specified_files(tiny_run: Path):
    folder = tiny_run.parent
    name = "vqvae_cw96_ps16_ed32_cf4_cb256_model1"
    for suffix in (".pth", "_history.csv", "_config.json"):
        assert (folder / f"{name}{suffix}").is_file()
    ckpt = torch.load(tiny_run, weights_only=True)
    for key in ("model_state_dict", "config", "args", "epoch", "train_loss", "val_loss"):
        assert key in ckpt
    assert ckpt["config"]["n_channels"] == 7
    assert len(ckpt["tsvq"]["data"]["scaler"]["shift"]) == 7
    config = json.loads((folder / f"{name}_config.json").read_text())
    assert config == ckpt["config"] and config["compression_factor"] == 4
    run = json.loads((folder / f"{name}_run.json").read_text())
    assert run["model"]["compression_factor"] == 4 and run["args"]["model_id"] == 1
    with open(folder / f"{name}_history.csv") as fh:
        rows = list(csv.reader(fh))
    assert rows[0][:7] == SPEC_HISTORY
    assert "train_codes_used" in rows[0] and "valid_perplexity" in rows[0]
    assert [r[0] for r in rows[1:]] == ["1", "2"]


@pytest.mark.parametrize("select_by", ["recon", "loss"])
def test_log_lines_to_the_letter(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], tiny_args: tuple[str, ...], select_by: str
) -> None:
    rc = main(
        [
            "train",
            "--dset",
            "etth1",
            "--channel",
            "0",
            "--n_epochs",
            "2",
            "--select_by",
            select_by,
            "--save_path",
            str(tmp_path),
            *tiny_args,
        ]
    )
    assert rc == 0
    out = capsys.readouterr().out.splitlines()
    assert "Model parameters: 78,369" in out
    epochs = [line for line in out if line.startswith("Epoch")]
    assert len(epochs) == 2 and all(EPOCH_LINE.match(line) for line in epochs), epochs
    assert epochs[0].startswith("Epoch   1/2 | ")
    saved = [line for line in out if line.startswith("  -> Best model saved")]
    valid = re.search(rf"Valid Loss: ({NUM}) \(VQ: {NUM}, Recon: ({NUM})", epochs[0])
    assert valid is not None
    spec_line = f"  -> Best model saved (val_loss: {valid[1]})"  # epoch 1 is always the best
    if select_by == "loss":  # the original's rule: the specification's line to the letter
        assert saved[0] == spec_line, saved
    else:  # the specification's line, then the figure that chose the model
        assert saved[0] == f"{spec_line}, chosen by valid recon: {valid[2]}", saved


def test_losses_are_sums_per_series(tiny_run: Path):
    """Valid recon loss / T equals eval's per-element MSE on the validation split."""
    history = (tiny_run.parent / (tiny_run.stem + "_history.csv")).read_text().splitlines()
    header = history[0].split(",")
    best = torch.load(tiny_run, weights_only=True)["epoch"]
    row = dict(zip(header, history[best].split(","), strict=True))
    tok = Tokenizer.from_pretrained(tiny_run)
    result = evaluate(tok, load_split_data(tok), "val")
    # training validates under bf16 autocast where available: agree to a few percent
    assert float(row["valid_recon_loss"]) / 96 == pytest.approx(result.mse, rel=0.05)


@pytest.mark.parametrize("n_epochs", [6, 3])  # 3: the patience runs out in the last epoch
def test_early_stopping(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], n_epochs: int, tiny_args: tuple[str, ...]
):
    # An lr far below float32 resolution freezes the weights: validation never improves.
    rc = main(
        [
            "train",
            "--dset",
            "etth1",
            "--channel",
            "0",
            "--n_epochs",
            str(n_epochs),
            "--lr",
            "1e-30",
            "--weight_decay",
            "0",
            "--quantizer",
            "vq",
            "--codebook_init",
            "uniform",
            "--dead_code_restart",
            "0",
            "--patience",
            "2",
            "--save_path",
            str(tmp_path),
            *tiny_args,
        ]
    )
    assert rc == 0
    out = capsys.readouterr().out
    assert out.count("\nEpoch") + out.startswith("Epoch") == 3
    assert "Early stopping: no better validation reconstruction loss for 2 epochs" in out


def test_spec_script_runs_without_a_progress_bar_in_logs(
    tmp_path: Path, data_dir: Path, repo: Path, tiny_args: tuple[str, ...]
):
    proc = subprocess.run(
        [
            sys.executable,
            str(repo / "vqvae_train.py"),
            "--dset",
            "etth1",
            "--channel",
            "0",
            "--n_epochs",
            "1",
            "--amp",
            "0",
            "--save_path",
            str(tmp_path),
            *tiny_args,
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=300,
        env={"TSVQ_DATA_DIR": str(data_dir), "PATH": "/usr/bin:/bin"},
    )
    assert proc.returncode == 0, proc.stderr
    assert "\r" not in proc.stdout + proc.stderr  # no progress bar outside a terminal
    epochs = [line for line in proc.stdout.splitlines() if line.startswith("Epoch")]
    assert len(epochs) == 1 and EPOCH_LINE.match(epochs[0]), proc.stdout
    assert (tmp_path / "etth1" / "vqvae_cw96_ps16_ed32_cf4_cb256_model1.pth").is_file()


def test_spec_help_lists_every_flag(repo: Path):
    proc = subprocess.run(
        [sys.executable, str(repo / "vqvae_train.py"), "--help"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0
    assert proc.stdout.startswith("usage: vqvae_train.py ")  # the script's name, not tsvq's
    for name in SPEC_DEFAULTS:
        assert f"--{name}" in proc.stdout


def test_launch_script_finds_the_checkouts_interpreter(repo: Path) -> None:
    """`bash vqvae_train.sh` right after the README's install, no environment activated: it
    runs the checkout's .venv/bin/python, not a bare `python` without tsvq (issue 25, item 12).
    """
    if not (repo / ".venv" / "bin" / "python").exists():
        pytest.skip("no .venv in the checkout")
    bare = {"PATH": "/usr/bin:/bin", "HOME": str(repo / ".no-home")}
    proc = subprocess.run(
        ["bash", str(repo / "vqvae_train.sh"), "--help"],
        capture_output=True,
        text=True,
        env=bare,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("usage: vqvae_train.py ")


@pytest.mark.skipif(not Path("/usr/bin/python3").exists(), reason="no /usr/bin/python3")
def test_spec_script_with_an_interpreter_without_tsvq_says_so(repo: Path, tmp_path: Path) -> None:
    proc = subprocess.run(
        ["bash", str(repo / "vqvae_train.sh"), "--help"],
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin", "PYTHON": "/usr/bin/python3", "HOME": str(tmp_path)},
        timeout=120,
    )
    if proc.returncode == 0:
        pytest.skip("/usr/bin/python3 has torch, numpy and pandas here")
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1, proc.stderr
    assert "not installed for /usr/bin/python3" in proc.stderr


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--compression_factor", "12"], "compression_factor=12 needs patch_size divisible by 12"),
        (["--context_points", "100"], "patch_size=16 must divide context_points=100"),
        (["--batch_size", "0"], "argument --batch_size: must be >= 1, got 0"),
        (["--revin", "2"], "argument --revin: expected 0 or 1"),
        (["--dset", "nope"], "argument --dset: invalid choice"),
        (["--embedding_dim=--"], "argument --embedding_dim: expected a value, got '--'"),
        (["--gradient", "sign"], "argument --gradient: invalid choice: 'sign'"),
        (["--dead_code_threshold", "1"], "--dead_code_threshold must be in [0, 1), got 1.0"),
    ],
)
def test_bad_flags_are_one_line_and_exit_2(flags: list[str], message: str, tmp_path: Path):
    proc = subprocess.run(
        [sys.executable, "-m", "tsvq", "train", "--save_path", str(tmp_path), *flags],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert message in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    assert not any(tmp_path.iterdir())


def test_max_steps_bounds_validation_too(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """With --max_steps_per_epoch N, each epoch trains N batches and validates at most N."""
    from tsvq.train import loop as train_mod

    seen: list[int] = []
    real = train_mod.run_epoch

    def spy(*args, **kwargs):
        seen.append(args[3])  # n_batches
        return real(*args, **kwargs)

    monkeypatch.setattr(train_mod, "run_epoch", spy)
    rc = main(
        [
            "train",
            "--dset",
            "etth1",
            "--n_epochs",
            "2",
            "--save_path",
            str(tmp_path),
            "--context_points",
            "96",
            "--max_steps_per_epoch",
            "3",
            "--batch_size",
            "32",
        ]
    )
    assert rc == 0
    assert seen == [3, 3, 3, 3]  # train, valid, train, valid: all channels' 20k valid series


@pytest.mark.dataset("illness")
def test_absurd_lr_stops_with_a_message_and_no_checkpoint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, data_dir: Path, run_cli
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TSVQ_DATA_DIR", str(data_dir))
    rc, _out, err = run_cli(
        [
            "train",
            "--dset",
            "illness",
            "--context_points",
            "96",
            "--n_epochs",
            "1",
            "--max_steps_per_epoch",
            "1",
            "--save_path",
            str(tmp_path / "out"),
            "--lr",
            "1e30",
        ]
    )
    assert rc == 1, err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert "NaN or inf in epoch 1" in err and "no model had been saved" in err
    assert "--lr (was 1e+30)" in err
    assert not list(tmp_path.rglob("*.pth"))
    assert not list(tmp_path.rglob("*.json")), "configs without a model (issue 25, class 14)"


def test_huge_values_in_epoch_2_keep_the_epoch_1_checkpoint(tmp_path: Path, run_cli) -> None:
    # 400 rows, one channel; rows 150-152 hold 1e20: finite, but their square is not.
    values = np.sin(np.arange(400) / 5.0)
    values[150:153] = 1e20
    lines = ["date,OT"] + [
        f"2020-01-01 {i // 60:02d}:{i % 60:02d}:00,{float(v)!r}" for i, v in enumerate(values)
    ]
    (tmp_path / "spiky.csv").write_text("\n".join(lines) + "\n")
    # training windows are rows 0..279 cut in 16s: 265 series, windows 135..152 see the spike.
    # Pick a seed whose epoch 1 (2 batches of 8) misses them and whose epoch 2 hits one.
    spiky = set(range(135, 153))
    seed = next(
        s
        for s in range(1000)
        if not spiky & set(epoch_order(265, s, 1)[:16].tolist())
        and spiky & set(epoch_order(265, s, 2)[:16].tolist())
    )
    save = tmp_path / "out"
    rc, out, err = run_cli(
        [
            "train",
            "--dset",
            "custom",
            "--data_path",
            str(tmp_path / "spiky.csv"),
            "--context_points",
            "16",
            "--batch_size",
            "8",
            "--max_steps_per_epoch",
            "2",
            "--n_epochs",
            "3",
            "--scaler",
            "none",
            "--revin",
            "0",
            "--seed",
            str(seed),
            "--save_path",
            str(save),
        ]
    )
    assert rc == 1, err
    assert "Epoch   1/3" in out and "Epoch   2/3" not in out
    assert "NaN or inf in epoch 2" in err and err.count("\n") == 1
    best = save / "custom" / "spiky" / "vqvae_spiky_cw16_ps16_ed32_cf4_cb256_model1.pth"
    assert str(best) in err
    state = checkpoint.load(best)
    assert state["epoch"] == 0  # epoch 1, counted from 0 as the original does
    assert all(
        torch.isfinite(t).all() for t in state["model_state_dict"].values() if t.is_floating_point()
    )
    assert checkpoint.load(best.with_name(best.stem + "_last.pth"))["epoch"] == 0
