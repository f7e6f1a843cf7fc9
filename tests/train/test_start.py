"""train.start: a new run starts at the network-free baseline's quality, before any step."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from tsvq.config import TrainConfig
from tsvq.data.windows import DataSpec, load
from tsvq.model.vqvae import VQVAE, ModelConfig
from tsvq.report.baseline import baseline
from tsvq.train.start import begin, sample_latents


@pytest.fixture(scope="module")
def data():
    return load(DataSpec("etth1", None, None, 96, channel=0))


@torch.inference_mode()
def _mse(model: VQVAE, x: torch.Tensor) -> float:
    model.eval()
    out = model(x)
    return float((out.recon - out.target).pow(2).mean())


def test_the_segment_start_scores_what_the_baseline_scores(data) -> None:
    cfg = ModelConfig(context_points=96, seed=5)
    model = VQVAE(cfg)
    begin(model, data, TrainConfig(seed=5))
    assert not model.quantizer.needs_init  # the codebook is fitted before the first step
    x = torch.from_numpy(data.windows("val")[:, 0].copy())
    base = baseline(data, "val", 256, 4, n_segments=65_536).kmeans_mse
    # k-means on the same raw segments (its own sample, start and iterations): within 10%
    assert abs(_mse(model, x) - base) < 0.1 * base, (_mse(model, x), base)


def test_a_random_start_still_gets_its_codebook_from_the_data(data) -> None:
    cfg = ModelConfig(context_points=96, seed=5)
    torch.manual_seed(0)
    model = VQVAE(cfg)
    encoder = [p.detach().clone() for p in model.encoder.parameters()]
    begin(model, data, TrainConfig(seed=5, init="random"))
    assert all(torch.equal(a, b) for a, b in zip(encoder, model.encoder.parameters(), strict=True))
    assert not model.quantizer.needs_init
    x = torch.from_numpy(data.windows("val")[:, 0].copy())
    assert _mse(model, x) > 0.5  # a random network: far from the baseline


def test_the_sample_is_drawn_from_the_whole_split_and_is_the_same_each_time(data) -> None:
    model = VQVAE(ModelConfig(context_points=96))
    a, b = (sample_latents(model, data, seed=3) for _ in range(2))
    assert torch.equal(a, b) and a.shape == (2731 * 24, 32)  # every one of 2,731 series
    small = dataclasses.replace(data, splits={**data.splits, "train": data.splits["train"][:200]})
    assert sample_latents(model, small, seed=3).shape == (105 * 24, 32)


def test_width_too_small_for_the_pairs_falls_back_to_the_random_start(data) -> None:
    cfg = ModelConfig(context_points=96, embedding_dim=2)
    torch.manual_seed(0)
    model = VQVAE(cfg)
    before = model.encoder[-1].weight.detach().clone()
    begin(model, data, TrainConfig())
    assert torch.equal(before, model.encoder[-1].weight.detach())
