"""Tokens in use: a forecaster on a frozen tokenizer's codes (or on continuous patches), its
training, its file, evaluation on a split and forecasts for a CSV."""
