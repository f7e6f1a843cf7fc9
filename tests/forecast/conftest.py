"""The forecast tests' fixtures: the flags of their tiny runs, a tiny tokenizer and a tiny
forecaster on it, trained once (illness: 966 rows, 7 channels)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

RunCli = Callable[[Sequence[str]], tuple[int, str, str]]


@pytest.fixture(scope="session")
def tokenizer_flags() -> tuple[str, ...]:
    """`tsvq train` flags of a tiny tokenizer on illness, context 96."""
    return ("--dset", "illness", "--context_points", "96", "--n_epochs", "1")


@pytest.fixture(scope="session")
def forecast_flags() -> tuple[str, ...]:
    """`tsvq forecast train` flags small enough for a shared CPU: context 96 (24 codes, 6
    positions), horizon 24, 4 steps of 32 series per epoch, a one-layer transformer of 16."""
    return (
        "--context_points",
        "96",
        "--horizon",
        "24",
        "--max_steps_per_epoch",
        "4",
        "--batch_size",
        "32",
        *("--d_model", "16", "--n_heads", "2", "--n_layers", "1", "--d_ff", "32"),
        *("--stats_hidden", "32"),
    )


@pytest.fixture(scope="session")
def forecaster_name() -> str:
    """The files of a forecaster run with `forecast_flags`."""
    return "forecaster_codes_cw96_h24_model1"


@pytest.fixture(scope="session")
def illness_csv(data_dir: Path) -> Path:
    return data_dir / "illness" / "national_illness.csv"


@pytest.fixture(scope="session")
def tokenizer(
    tmp_path_factory: pytest.TempPathFactory, run_cli: RunCli, tokenizer_flags: tuple[str, ...]
) -> Path:
    out = tmp_path_factory.mktemp("fc_tokenizer")
    argv = ["train", *tokenizer_flags, "--max_steps_per_epoch", "4", "--save_path", str(out)]
    rc, _out, err = run_cli(argv)
    assert rc == 0, err
    return out / "illness" / "vqvae_cw96_ps16_ed32_cf4_cb256_model1.pth"


@pytest.fixture(scope="session")
def forecaster(
    tmp_path_factory: pytest.TempPathFactory,
    run_cli: RunCli,
    tokenizer: Path,
    forecast_flags: tuple[str, ...],
    forecaster_name: str,
) -> Path:
    out = tmp_path_factory.mktemp("fc_forecaster")
    argv = ["forecast", "train", "--checkpoint", str(tokenizer), *forecast_flags]
    rc, _out, err = run_cli([*argv, "--n_epochs", "2", "--save_path", str(out)])
    assert rc == 0, err
    return out / "illness" / f"{forecaster_name}.pth"
