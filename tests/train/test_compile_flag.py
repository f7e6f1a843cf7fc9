"""--compile: auto decides from figures (tiny runs eager), a compiled run equals an eager one and
resumes compiled, and a machine that cannot compile trains on eagerly after one line."""

from __future__ import annotations

import csv
import math
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from tsvq.model.vqvae import VQVAE, ModelConfig
from tsvq.run import checkpoint
from tsvq.train.compiled import (
    FIRST_COMPILE_S,
    TIMED,
    WARM_UP,
    Figures,
    Steps,
    _figures_path,
    decide,
    read_figures,
    write_figures,
)
from tsvq.train.setup import losses

# fp32 (--amp 0), so compiled and eager agree within the compiled-step test's tolerances
ARGS = ["--dset", "etth1", "--channel", "0", "--context_points", "96", "--batch_size", "32"]
ARGS += ["--max_steps_per_epoch", "6", "--amp", "0", "--seed", "5"]
NAME = "vqvae_cw96_ps16_ed32_cf4_cb256_model1"


@pytest.mark.parametrize(
    ("steps", "step_s", "figures", "yes"),
    [
        (100_000, 0.04, None, True),  # 100,000 x 40 ms x 20% = 800 s > the first guess
        (1_000, 0.04, None, False),  # 8 s
        (1_000, 0.04, Figures(compile_s=5.0, saving=0.5), True),  # 20 s > 5 s, measured
        (100_000, 0.04, Figures(compile_s=5.0, saving=-0.1), False),  # compiling was slower
    ],
)
def test_decide_weighs_steps_saving_and_cost(
    steps: int, step_s: float, figures: Figures | None, yes: bool
) -> None:
    got, words = decide(steps, step_s, figures)
    assert got is yes, words
    cost = figures.compile_s if figures else FIRST_COMPILE_S
    assert f"{cost:,.0f} s to compile" in words and f"{steps:,} steps left" in words
    assert ("(measured here)" in words) is (figures is not None), words


@pytest.mark.parametrize(
    "text",
    [
        "",
        "not json",
        "[1, 2]",
        '{"k": 3}',
        '{"k": {"compile_s": "NaN", "saving": 0.1}}',
        '{"k": {"compile_s": -1, "saving": 0.1}}',
        '{"k": {"compile_s": 3, "saving": 7}}',
    ],
)
def test_figures_a_file_carries_are_checked(tmp_path: Path, text: str) -> None:
    path = tmp_path / "figures.json"
    path.write_text(text)
    assert read_figures(path, "k") is None
    path.write_text('{"k": {"compile_s": 3.5, "saving": 0.25}}')
    assert read_figures(path, "k") == Figures(3.5, 0.25)


def test_auto_trains_a_tiny_run_eagerly_and_says_why(run_cli, tmp_path: Path) -> None:
    rc, out, err = run_cli(["train", *ARGS, "--n_epochs", "2", "--save_path", str(tmp_path)])
    assert rc == 0, err
    lines = out.splitlines()
    said = [line for line in lines if line.startswith("Compile")]
    assert said == ["Compile (auto): no, 12 training steps in all: too few to pay for compiling"]
    assert len([line for line in lines if line.startswith("Epoch")]) == 2


def _history(save: Path) -> list[dict[str, float]]:
    with open(save / "etth1" / f"{NAME}_history.csv", newline="") as fh:
        return [
            {k: float(v) for k, v in row.items() if k != "seconds"} for row in csv.DictReader(fh)
        ]


def _state(save: Path, kind: str) -> dict[str, torch.Tensor]:
    got = checkpoint.load(save / "etth1" / f"{NAME}{kind}.pth")
    return {**got["model_state_dict"], **got["tsvq"]["state"]}


def _train(env: dict[str, str], save: Path, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "tsvq", "train", *ARGS, "--save_path", str(save), *extra],
        env=env,
        capture_output=True,
        text=True,
        timeout=1200,  # a first compile on a busy 2-core machine took minutes
    )


def test_compiled_run_equals_eager_and_resumes_compiled(tmp_path: Path, subprocess_env) -> None:
    env = subprocess_env()
    eager = _train(env, tmp_path / "eager", "--n_epochs", "3", "--compile", "0")
    assert eager.returncode == 0, eager.stderr
    assert "Compile" not in eager.stdout
    # the compiled run, killed once its first epoch is saved, then resumed compiled
    save = tmp_path / "compiled"
    cmd = [sys.executable, "-m", "tsvq", "train", *ARGS, "--save_path", str(save)]
    proc = subprocess.Popen([*cmd, "--n_epochs", "3", "--compile", "1"], env=env, text=True)
    last = save / "etth1" / f"{NAME}_last.pth"
    for _ in range(6000):  # ten minutes
        if last.exists() or proc.poll() is not None:
            break
        time.sleep(0.1)
    assert proc.poll() is None and last.exists(), "no state saved while the run was alive"
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=60)
    resumed = _train(env, save, "--n_epochs", "3", "--compile", "1", "--resume")
    assert resumed.returncode == 0, resumed.stderr
    assert "Resuming from" in resumed.stdout and "Compile" not in resumed.stdout
    for got, want in zip(_history(save), _history(tmp_path / "eager"), strict=True):
        for key, value in want.items():
            assert math.isclose(got[key], value, rel_tol=1e-4, abs_tol=1e-6), (key, got, want)
    for kind in ("", "_last"):
        want = _state(tmp_path / "eager", kind)
        for key, tensor in _state(save, kind).items():
            torch.testing.assert_close(tensor, want[key], rtol=1e-4, atol=1e-6, msg=key)


def test_no_compiler_trains_on_eagerly_after_one_line(tmp_path: Path, subprocess_env) -> None:
    env = subprocess_env()
    eager = _train(env, tmp_path / "eager", "--n_epochs", "1", "--compile", "0")
    assert eager.returncode == 0, eager.stderr
    bare = tmp_path / "bin"  # a PATH without a C compiler, and a cache with nothing compiled
    bare.mkdir()
    env.update(PATH=str(bare), TORCHINDUCTOR_CACHE_DIR=str(tmp_path / "cache"))
    got = _train(env, tmp_path / "fallback", "--n_epochs", "1", "--compile", "1")
    assert got.returncode == 0, got.stderr
    said = [line for line in got.stdout.splitlines() if line.startswith("Compile")]
    assert len(said) == 1 and said[0].startswith("Compile: failed on this machine ("), said
    assert said[0].endswith("training continues eagerly") and "C++ compiler" in said[0]
    assert _history(tmp_path / "fallback") == _history(tmp_path / "eager")  # the same run


def test_auto_goes_back_to_eager_when_the_compiled_step_is_slower(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A CPU where the compiled training step runs slower than eager (measured on a 4th-gen
    Xeon: 2,171 against 2,524 windows/s): auto, having compiled on its figures, times the
    compiled steps, says so in one line and trains on eagerly; validation keeps the graph.
    The compiled function is stood in for by the eager losses plus a delay, so the test times
    real steps of a real model without paying for a compile."""
    monkeypatch.setenv("TORCHINDUCTOR_CACHE_DIR", str(tmp_path / "cache"))
    torch.manual_seed(0)
    model = VQVAE(ModelConfig(context_points=32, embedding_dim=8, num_embeddings=16)).train()
    said: list[str] = []
    write_figures(_figures_path(), "k", Figures(compile_s=0.0, saving=0.9))
    compiled_calls = []

    def slow(x: torch.Tensor):
        compiled_calls.append(model.training)
        time.sleep(0.05)
        return losses(model, x)

    class Standin(Steps):
        def _compile(self) -> None:  # what torch.compile would return, slower
            self.compiled = slow
            self.compiled_at = len(self.intervals)

    steps = Standin(model, model, "auto", 16, (1_000, 10), "k", said.append)
    x = torch.randn(16, 32)
    for _ in range(40):
        steps(x, training=True)
    assert steps.train_eager, said
    assert said[0].startswith("Compile (auto): yes,"), said
    assert len(said) == 2 and said[1].startswith("Compile (auto): training back to eager,")
    assert "ms eager (validation stays compiled)" in said[1]
    n = len(compiled_calls)
    assert n == 1 + WARM_UP + TIMED  # the compile's step, the timed ones, then none
    steps(x, training=True)
    assert len(compiled_calls) == n
    model.eval()
    steps(x, training=False)
    assert compiled_calls[n:] == [False]
