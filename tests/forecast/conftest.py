"""A tiny tokenizer and a tiny forecaster on it, trained once for the forecast tests (illness:
966 rows, 7 channels)."""

from __future__ import annotations

from pathlib import Path

import pytest
from forecast_helpers import FORECAST, NAME, TOKENIZER
from robust_helpers import needs_data, run_cli

pytestmark = needs_data


@pytest.fixture(scope="session")
def tokenizer(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("fc_tokenizer")
    rc, _out, err = run_cli(
        ["train", *TOKENIZER, "--max_steps_per_epoch", "4", "--save_path", str(out)]
    )
    assert rc == 0, err
    return out / "illness" / "vqvae_cw96_ps16_ed32_cf4_cb256_model1.pth"


@pytest.fixture(scope="session")
def forecaster(tmp_path_factory: pytest.TempPathFactory, tokenizer: Path) -> Path:
    out = tmp_path_factory.mktemp("fc_forecaster")
    argv = ["forecast", "train", "--checkpoint", str(tokenizer), *FORECAST, "--n_epochs", "2"]
    rc, _out, err = run_cli([*argv, "--save_path", str(out)])
    assert rc == 0, err
    return out / "illness" / f"{NAME}.pth"
