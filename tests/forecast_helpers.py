"""Flags of the tiny runs the forecast tests share (tests/forecast/conftest.py trains them)."""

TOKENIZER = ["--dset", "illness", "--context_points", "96", "--n_epochs", "1"]
# a forecaster small enough for a shared CPU: context 96 (24 codes, 6 positions), horizon 24
SMALL = ["--d_model", "16", "--n_heads", "2", "--n_layers", "1", "--d_ff", "32"]
FORECAST = [
    "--context_points",
    "96",
    "--horizon",
    "24",
    "--max_steps_per_epoch",
    "4",
    "--batch_size",
    "32",
    *SMALL,
    "--stats_hidden",
    "32",
]
NAME = "forecaster_codes_cw96_h24_model1"
