"""tsvq train --init TOKENIZER and tsvq.fit(init=...): a run that starts from a trained
tokenizer's weights and codebook, records what it started from, and resumes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

import tsvq
from tsvq.cli.finetune import pretrained_start
from tsvq.config import TrainConfig
from tsvq.data.windows import DataSpec, load
from tsvq.model.vqvae import VQVAE, ModelConfig
from tsvq.tokens.tokenizer import Tokenizer
from tsvq.train.start import COUNTERS, begin, sample_latents

NAME = "vqvae_cw96_ps16_ed32_cf4_cb256_model1"


def test_the_start_is_the_tokenizer(tiny_run: Path) -> None:
    """`begin` (what setup runs before the first step) gives the tokenizer's weights and, with
    `codebook_init="uniform"`, its codebook exactly, on other data; the quantizer's counters
    start afresh."""
    tok = Tokenizer.from_pretrained(tiny_run)
    # another window (the model is patch-wise); the codebook kept as it is
    cfg = ModelConfig(context_points=192, seed=2021, codebook_init="uniform")
    start = pretrained_start(str(tiny_run), cfg)
    assert start.fingerprint == tok.fingerprint
    data = load(DataSpec("etth2", None, None, 192))
    torch.manual_seed(0)
    core = VQVAE(cfg)
    begin(core, data, TrainConfig(init="pretrained", init_from=str(tiny_run)), start.state)
    theirs, ours = tok.model.state_dict(), core.state_dict()
    assert set(theirs) == set(ours)
    for k, v in theirs.items():
        if k not in COUNTERS:
            assert torch.equal(ours[k], v), k
    assert int(ours["quantizer.step"]) == 0 and not core.quantizer.needs_init
    assert int(theirs["quantizer.step"]) > 0  # the tokenizer's own count, not carried over


def test_the_codebook_is_refitted_to_the_new_data(tiny_run: Path) -> None:
    """With the default `codebook_init="kmeans"` the network is the tokenizer's and its codebook
    moves by Lloyd's iterations onto the new data's encoder outputs: they quantize closer to it
    than to the tokenizer's codebook."""
    tok = Tokenizer.from_pretrained(tiny_run)
    cfg = ModelConfig(context_points=192, seed=2021)
    data = load(DataSpec("illness", None, None, 192))
    core = VQVAE(cfg)
    begin(
        core,
        data,
        TrainConfig(init="pretrained", init_from=str(tiny_run)),
        pretrained_start(str(tiny_run), cfg).state,
    )
    theirs, ours = tok.model.state_dict(), core.state_dict()
    for k, v in theirs.items():
        if k not in (*COUNTERS, "quantizer.codebook", "quantizer.ema_sum", "quantizer.ema_count"):
            assert torch.equal(ours[k], v), k
    with torch.no_grad():
        z = sample_latents(core, data, seed=5)  # other draws than the refit's

        def distortion(codebook: torch.Tensor) -> float:
            return float(torch.cdist(z, codebook.float()).min(dim=1).values.pow(2).mean())

        before = distortion(theirs["quantizer.codebook"])
        after = distortion(core.quantizer.codebook)
    assert after < 0.9 * before, (before, after)


def test_train_init_records_its_start_and_resumes(
    tiny_run: Path, run_cli, tiny_args, tmp_path: Path
) -> None:
    argv = ["train", "--dset", "etth2", "--init", str(tiny_run), "--n_epochs", "2"]
    argv += [*tiny_args, "--max_steps_per_epoch", "2", "--save_path", str(tmp_path)]
    rc, out, err = run_cli(argv)
    assert rc == 0, err
    fingerprint = Tokenizer.from_pretrained(tiny_run).fingerprint
    assert f"Fine-tuning from {tiny_run} (tokenizer {fingerprint})" in out
    run = json.loads((tmp_path / "etth2" / f"{NAME}_run.json").read_text())
    assert run["train"]["init"] == "pretrained"
    assert (run["train"]["init_from"], run["train"]["init_fingerprint"]) == (
        str(tiny_run),
        fingerprint,
    )
    assert run["args"]["init"] == str(tiny_run)  # --config repeats it
    rc, out, err = run_cli([*argv, "--resume"])
    assert rc == 0, err
    assert "Resuming from" in out and "after epoch 2" in out
    without = [a for a in argv if a not in ("--init", str(tiny_run))]
    rc, _, err = run_cli([*without, "--resume"])
    assert rc == 2 and f"init_fingerprint='{fingerprint}', now None" in err


def test_fit_takes_init(tiny_run: Path, tmp_path: Path) -> None:
    x = np.cumsum(np.random.default_rng(0).standard_normal((1500, 7)), axis=0)
    flags = {"context_points": 96, "max_steps_per_epoch": 2, "batch_size": 32, "threads": 1}
    tsvq.fit(x, save_path=tmp_path, init=str(tiny_run), n_epochs=1, **flags)
    (run,) = (tmp_path / "custom").glob("*_run.json")
    train = json.loads(run.read_text())["train"]
    assert train["init_from"] == str(tiny_run) and train["init"] == "pretrained"
