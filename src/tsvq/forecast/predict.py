"""Forecasts for a CSV file: the horizon after its last row, in the file's own units."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from tsvq.data.table import read_table
from tsvq.errors import TsvqError
from tsvq.files import write_text
from tsvq.forecast.evaluate import Loaded, forecasts
from tsvq.tokens.channels import describe_columns


@dataclass
class Prediction:
    """The `horizon` steps after a file's last row, per channel, in original units."""

    columns: list[str]
    values: np.ndarray  # [H, C] float32
    dates: np.ndarray | None  # [H] datetime64, when the context's dates are evenly spaced

    def to_csv(self) -> str:
        frame = pd.DataFrame(self.values, columns=self.columns)
        frame.insert(0, "step", np.arange(1, len(self.values) + 1))
        if self.dates is not None:
            frame.insert(1, "date", pd.to_datetime(self.dates).astype(str))
        return frame.to_csv(index=False, float_format="%.7g")


def predict_csv(loaded: Loaded, path: str | Path) -> Prediction:
    """The forecast of the `horizon` steps after the last row of `path` (a date column, then
    the forecaster's channels by name, in any order), from its last `context_points` rows."""
    p = Path(path)
    table = read_table(p)
    want = list(loaded.columns)
    if sorted(table.columns) != sorted(want):
        raise TsvqError(
            f"{p} has the columns {describe_columns(table.columns)}; forecaster {loaded.source} "
            f"was trained on {describe_columns(want)}; give a file with exactly those"
        )
    L = loaded.context_points
    if len(table.values) < L:
        raise TsvqError(
            f"{p} has {len(table.values)} rows; forecaster {loaded.source} reads the last "
            f"context_points={L} rows"
        )
    scaler = loaded.scaler
    rows = table.values[-L:, [table.columns.index(c) for c in want]]  # [L, C] in file units
    window = scaler.transform(rows).T[None]  # [1, C, L] scaled
    y_hat = np.concatenate([y.numpy() for _, y in forecasts(loaded, window)])  # [C, H]
    values = scaler.inverse(y_hat.T)  # [H, C]
    dates = None if table.dates is None else _next_dates(table.dates[-L:], loaded.horizon)
    return Prediction(want, values, dates)  # a file without dates: steps alone


def _next_dates(dates: np.ndarray, horizon: int) -> np.ndarray | None:
    """The horizon's dates when the context's are evenly spaced; else None (no guess)."""
    steps = np.diff(dates)
    if len(steps) == 0 or not (steps == steps[0]).all() or steps[0] <= np.timedelta64(0):
        return None
    return dates[-1] + steps[0] * np.arange(1, horizon + 1)


def write_prediction(prediction: Prediction, out: str | Path) -> None:
    """Write the forecast as CSV (step, date when known, one column per channel) atomically."""
    write_text(out, prediction.to_csv())
