"""The forecaster's shapes for several horizons and channel counts, its configuration checks,
and the space it forecasts in."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import torch

from tsvq import Tokenizer
from tsvq.errors import ConfigError
from tsvq.forecast.config import FitConfig, ForecastConfig
from tsvq.forecast.fit import model_config
from tsvq.forecast.inputs import batches, encode_split, gather
from tsvq.forecast.model import Forecast, Forecaster, targets

SMALL = {"d_model": 16, "n_heads": 2, "n_layers": 1, "d_ff": 32, "stats_hidden": 32}


@pytest.mark.dataset("illness")  # the tokenizer fixture trains on it
@pytest.mark.parametrize("horizon", [1, 24, 96, 200])
@pytest.mark.parametrize("channels", [1, 3, 7])
def test_codes_to_forecasts_for_any_horizon_and_channels(
    tokenizer: Path, horizon: int, channels: int
) -> None:
    tok = Tokenizer.from_pretrained(tokenizer)
    cfg = model_config(tok, 96, horizon, **SMALL)
    assert (cfg.n_tokens, cfg.group, cfg.n_positions) == (24, 4, 6)  # a position per patch
    model = Forecaster(cfg, tok.codebook).eval()
    rng = np.random.default_rng(channels)
    windows = rng.standard_normal((5, channels, 96 + horizon)).astype(np.float32)
    codes = encode_split(tok, windows, 96)
    assert codes.shape == (5, channels, 24) and codes.dtype == np.int32
    # the codes are the tokenizer's own, channel by channel
    np.testing.assert_array_equal(
        codes[:, -1], tok.encode(windows[:, -1:, :96].transpose(0, 2, 1), columns=["x"]).codes[:, 0]
    )
    b = next(batches(windows, np.arange(5 * channels), 64, 96, codes))
    assert b.context.shape == (5 * channels, 96) and b.ids.shape == (5 * channels, 24)
    fc = model(b.context, b.mean, b.std, b.ids)
    assert [tuple(t.shape) for t in fc] == [
        (5 * channels, horizon),
        (5 * channels,),
        (5 * channels,),
    ]
    assert fc.scaled(b.mean, b.std).shape == b.target.shape == (5 * channels, horizon)


@pytest.mark.parametrize("horizon", [1, 48])
def test_patches_read_the_context_itself(horizon: int) -> None:
    cfg = ForecastConfig(96, horizon, 4, inputs="patches", group=4, **SMALL)
    model = Forecaster(cfg)
    windows = np.random.default_rng(0).standard_normal((3, 2, 96 + horizon)).astype(np.float32)
    b = gather(windows, np.arange(6), 96)
    assert b.ids is None
    tokens = model.tokens(b.context, None)
    assert tokens.shape == (6, 6, 16)  # 6 positions of 4 x 4 steps
    torch.testing.assert_close(tokens.reshape(6, 96), b.context)
    assert model(b.context, b.mean, b.std).shape.shape == (6, horizon)


def test_a_batch_is_each_series_in_its_own_revin_space() -> None:
    windows = np.random.default_rng(1).standard_normal((4, 3, 40)).astype(np.float32) * 5 + 2
    b = gather(windows, np.array([7, 2]), 32)  # series 7: window 2, channel 1
    raw = torch.from_numpy(windows[2, 1])
    torch.testing.assert_close(b.context[0] * b.std[0] + b.mean[0], raw[:32])
    torch.testing.assert_close(b.target[0], raw[32:])
    assert (
        abs(float(b.context[0].mean())) < 1e-5
        and abs(float(b.context[0].std(unbiased=False)) - 1) < 1e-3
    )


def test_targets_and_forecast_invert_each_other() -> None:
    z = torch.randn(5, 24) * 3 + 1
    t = targets(z)
    fc = Forecast(t.shape, t.mean, t.std)
    torch.testing.assert_close(fc.values(), z, atol=1e-5, rtol=1e-5)
    mean, std = torch.full((5,), 4.0), torch.full((5,), 0.5)
    torch.testing.assert_close(fc.scaled(mean, std), 4.0 + 0.5 * z, atol=1e-5, rtol=1e-5)


def test_the_id_embedding_starts_at_zero_and_is_learned() -> None:
    codebook = torch.randn(8, 3)
    cfg = ForecastConfig(16, 4, 4, code_dim=3, vocab_size=8, id_embedding=True, **SMALL)
    model = Forecaster(cfg, codebook)
    ids = torch.randint(0, 8, (2, 4))
    torch.testing.assert_close(
        model.tokens(torch.zeros(2, 16), ids), codebook[ids].reshape(2, 4, 3)
    )
    assert model.ids.weight.requires_grad
    assert "codebook" not in model.state_dict()  # the tokenizer's, never the forecaster's


@pytest.mark.parametrize(
    ("kw", "field", "message"),
    [
        ({"token_len": 5}, "token_len", "a divisor of context_points=96"),
        ({"group": 5}, "group", "a divisor of the context's 24 tokens"),
        ({"n_heads": 3}, "n_heads", "a divisor of d_model=16"),
        ({"code_dim": 0}, "code_dim", "a positive integer with inputs='codes'"),
        ({"inputs": "words"}, "inputs", "one of codes, patches"),
        ({"inputs": "patches", "id_embedding": True}, "id_embedding", "patches have no ids"),
        ({"horizon": 0}, "horizon", "a positive integer"),
        ({"dropout": 1.0}, "dropout", "in [0, 1)"),
        ({"d_model": True}, "d_model", "a positive integer"),
    ],
)
def test_forecast_config_refuses_by_field(kw: dict, field: str, message: str) -> None:
    base = {"context_points": 96, "horizon": 24, "token_len": 4, "code_dim": 8, "vocab_size": 16}
    with pytest.raises(ConfigError, match=re.escape(message)) as err:
        ForecastConfig(**{**base, **SMALL, **kw})
    assert err.value.field == field


@pytest.mark.parametrize(
    ("kw", "field"),
    [({"lr": 0.0}, "lr"), ({"loss": "l1"}, "loss"), ({"seed": -1}, "seed"), ({"amp": 1}, "amp")],
)
def test_fit_config_refuses_by_field(kw: dict, field: str) -> None:
    with pytest.raises(ConfigError) as err:
        FitConfig(**kw)
    assert err.value.field == field and field in str(err.value)


def test_the_codebook_must_fit_the_configuration() -> None:
    cfg = ForecastConfig(16, 4, 4, code_dim=3, vocab_size=8, **SMALL)
    with pytest.raises(ValueError, match=r"codebook \[8, 3\], got \(8, 4\)"):
        Forecaster(cfg, torch.zeros(8, 4))
