"""Tokens in use: a forecaster on a frozen tokenizer's codes (or on continuous patches), its
training, its file, evaluation on a split and forecasts for a CSV (docs/forecast.md)."""

from tsvq.forecast.config import FitConfig, ForecastConfig
from tsvq.forecast.evaluate import Loaded, check_horizon, evaluate, load_data, load_forecaster
from tsvq.forecast.fit import FitResult, fit, model_config
from tsvq.forecast.predict import Prediction, predict_csv
from tsvq.forecast.record import ForecastPaths, forecaster_name

__all__ = [
    "FitConfig",
    "FitResult",
    "ForecastConfig",
    "ForecastPaths",
    "Loaded",
    "Prediction",
    "check_horizon",
    "evaluate",
    "fit",
    "forecaster_name",
    "load_data",
    "load_forecaster",
    "model_config",
    "predict_csv",
]
