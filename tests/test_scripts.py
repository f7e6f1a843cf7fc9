"""scripts/pretrain.py at a tiny size, as a user runs it: a folder that loads, a card whose
figures are the ones printed, the digest printed the file's; bad names are one line, exit 2."""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tsvq.tokens import catalog
from tsvq.tokens.tokenizer import Tokenizer


def _pretrain(
    repo: Path, env: dict[str, str], cwd: Path, *args: str
) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(repo / "scripts" / "pretrain.py"), *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=900,
    )


def test_a_tiny_pretrained_tokenizer_is_a_folder_any_tokenizer_reads(
    repo: Path, subprocess_env, tmp_path: Path
) -> None:
    out = tmp_path / "tiny"
    proc = _pretrain(
        repo,
        subprocess_env(),
        tmp_path,
        *("tiny", "--dsets", "etth1,etth2", "--epochs", "1", "--steps", "2", "--codes", "8"),
        *("--score", "etth1", "--out", str(out), "--work", str(tmp_path / "work")),
        *("--ema_decay", "0.8"),
    )
    assert proc.returncode == 0, proc.stderr
    assert sorted(p.name for p in out.iterdir()) == [
        "README.md",
        "config.json",
        "model.safetensors",
    ]
    digest = re.search(r"model.safetensors sha256 ([0-9a-f]{64})", proc.stdout)
    assert (
        digest
        and digest.group(1) == hashlib.sha256((out / "model.safetensors").read_bytes()).hexdigest()
    )
    tok = Tokenizer.from_pretrained(out)
    assert (tok.cfg.num_embeddings, tok.cfg.compression_factor, tok.cfg.context_points) == (
        8,
        4,
        96,
    )
    printed = re.search(r"etth1: tsvq ([\d.]+)  k-means ([\d.]+)", proc.stdout)
    assert printed
    assert tok.cfg.ema_decay == 0.8  # the flag over the fast recipe's 0.7, and the card says so
    card = (out / "README.md").read_text(encoding="utf-8")
    assert '"ema_decay": 0.8' in card
    assert f"| etth1 | yes | 2881 | {printed.group(1)} | {printed.group(2)} |" in card
    assert "| etth2 | 8640 | 7 |" in card and "CC BY-ND 4.0" in card
    figures = catalog.card_figures(out / "README.md")
    assert figures.test_mse == pytest.approx(float(printed.group(1)), abs=1e-4)
    assert figures.baseline_mse == pytest.approx(float(printed.group(2)), abs=1e-4)
    assert figures.data and figures.data.startswith("etth1, etth2")


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["nosuch"], "NAME 'nosuch' is not one of ett, general, general-512, ett-f8"),
        (["x", "--dsets", "nosuch", "--out", "x"], "nosuch"),
        (["x", "--dsets", "etth1", "--factor", "0", "--out", "x"], "must be >= 1, got 0"),
        (
            ["x", "--dsets", "etth1", "--weight", "weather=2", "--out", "x"],
            "weight for 'weather': not one of the pool's etth1",
        ),
        (["x", "--dsets", "etth1", "--weight", "etth1=-1", "--out", "x"], "must be above 0"),
        (["x", "--dsets", "etth1", "--weight", "etth1=two", "--out", "x"], "not DSET=W"),
        (["x", "--dsets", "etth1", "--aggregate", "1,0", "--out", "x"], "whole numbers >= 1"),
        (["x", "--dsets", "etth1", "--aggregate", "1,x", "--out", "x"], "whole numbers"),
        (["x", "--dsets", "etth1", "--ema_decay", "1.5", "--out", "x"], "ema_decay"),
    ],
)
def test_a_name_or_dataset_it_does_not_know_is_one_line_exit_2(
    repo: Path, subprocess_env, tmp_path: Path, args: list[str], says: str
) -> None:
    proc = _pretrain(repo, subprocess_env(), tmp_path, *args, "--work", str(tmp_path / "w"))
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert says in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "x").exists()


def test_each_shipped_tokenizer_is_what_its_recipe_makes(repo: Path) -> None:
    """Every shipped tokenizer named by a recipe records, in its card, the `tsvq.fit` keywords
    that recipe gives now (a recipe changed without retraining, or a file trained with other
    settings, fails here), and its config holds the recipe's codebook size and factor."""
    sys.path.insert(0, str(repo / "scripts"))
    try:
        import pretrain
    finally:
        sys.path.remove(str(repo / "scripts"))
    names = [n.removeprefix(catalog.PREFIX) for n in catalog.names()]
    assert {"ett", "general", "general-512"} <= set(names)
    for short in names:
        recipe = pretrain.RECIPES[short]
        args = argparse.Namespace(epochs=pretrain.EPOCHS, steps=pretrain.STEPS)
        card = (catalog.folder(catalog.PREFIX + short) / catalog.CARD).read_text()
        found = re.search(r"`tsvq\.fit` keywords: `(\{.*?\})`", card)
        assert found, short
        assert json.loads(found.group(1)) == json.loads(json.dumps(pretrain.flags(args, recipe))), (
            short
        )
        cfg = Tokenizer.from_pretrained(catalog.PREFIX + short).cfg
        assert (cfg.num_embeddings, cfg.compression_factor) == (
            recipe.codes,
            recipe.compression_factor,
        ), short
