"""Configs check themselves once, when they are made: ModelConfig, TrainConfig, DataSpec.

Each refusal is a `ConfigError` naming the field (the command line names it as its flag), and
every value the command line accepts builds a config.
"""

from __future__ import annotations

import math

import pytest

from tsvq.config import MAX_SEED, TrainConfig
from tsvq.data.windows import DataSpec
from tsvq.errors import ConfigError, TsvqError
from tsvq.model.vqvae import ModelConfig

SPEC = {"dset": "etth1", "root_path": None, "data_path": None, "context_points": 96}


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("n_epochs", 0),
        ("n_epochs", 2.0),
        ("n_epochs", True),
        ("batch_size", -1),
        ("patience", 0),
        ("lr", 0.0),
        ("lr", math.nan),
        ("lr", math.inf),
        ("lr", "1e-4"),
        ("weight_decay", -1e-4),
        ("grad_clip", 0.0),
        ("min_lr", -1.0),
        ("select_by", "val"),
        ("seed", -1),
        ("seed", MAX_SEED + 1),
        ("max_steps_per_epoch", 0),
        ("threads", 0),
        ("amp", 1),
        ("resume", "yes"),
        ("device", ""),
        ("log_dir", 3),
    ],
)
def test_train_config_refuses_by_field(field: str, value: object) -> None:
    with pytest.raises(ConfigError, match=f"^{field} must be .*got {value!r}$") as info:
        TrainConfig(**{field: value})
    assert info.value.field == field


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("context_points", 0),
        ("patch_size", 0),
        ("num_embeddings", 0),
        ("embedding_dim", 1.5),
        ("num_residual_layers", -1),
        ("commitment_cost", -0.1),
        ("ema_decay", 1.0),
        ("ema_decay", 0.0),
        ("dead_code_threshold", 1.0),
        ("dead_code_restart", -1),
        ("seed", MAX_SEED + 1),
        ("quantizer", "kmeans"),
        ("codebook_init", "zeros"),
        ("gradient", "sign"),
        ("revin", 1),
        ("block_hidden_size", 3),
    ],
)
def test_model_config_refuses_by_field(field: str, value: object) -> None:
    with pytest.raises(ConfigError, match=f"^{field} must be") as info:
        ModelConfig(**{field: value})
    assert info.value.field == field


def test_model_config_refuses_what_no_field_owns_alone() -> None:
    with pytest.raises(ConfigError, match="patch_size=16 must divide context_points=100") as info:
        ModelConfig(context_points=100)
    assert info.value.field is None
    with pytest.raises(ConfigError, match="compression_factor=5 cannot be built") as info:
        ModelConfig(context_points=80, patch_size=20, compression_factor=5)
    assert info.value.field == "compression_factor"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("dset", "etth3"),
        ("context_points", 0),
        ("scaler", "robust"),
        ("features", "X"),
        ("channel", -1),
        ("target", 3),
        ("root_path", 1),
    ],
)
def test_data_spec_refuses_by_field(field: str, value: object) -> None:
    with pytest.raises(ConfigError, match=f"^{field} must be") as info:
        DataSpec(**{**SPEC, field: value})
    assert info.value.field == field


def test_defaults_and_the_specifications_values_build() -> None:
    assert ModelConfig().n_tokens == 128 and TrainConfig().lr == 1e-4
    assert DataSpec(**SPEC).scaler == "standard"
    for cf in (4, 8, 12, 16):
        ModelConfig(context_points=96, patch_size=48, compression_factor=cf)


def test_a_config_error_is_a_user_error() -> None:
    # the command line prints TsvqError as one line; API callers may catch ValueError
    assert issubclass(ConfigError, TsvqError) and issubclass(ConfigError, ValueError)
