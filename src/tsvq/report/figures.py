"""A tokenizer's test figures in one sentence, for its model card (`tsvq export`): the test
split's reconstruction error beside the two baselines on the same windows (`report.verdict`)."""

from __future__ import annotations

from tsvq.errors import TsvqError
from tsvq.report.evaluate import evaluate, load_split_data
from tsvq.report.verdict import against_baseline
from tsvq.tokens.tokenizer import Tokenizer


def test_figures(tok: Tokenizer) -> tuple[str | None, str | None]:
    """(the sentence, None), or (None, why not) when the data it was trained on cannot be read
    as it was (not found, changed since, or kept by no path: an exported folder's)."""
    try:
        data = load_split_data(tok)
    except TsvqError as exc:
        return None, str(exc)
    result = evaluate(tok, data, "test")
    v = against_baseline(tok.cfg, data, "test", result.mse, result.dead_codes, result.epoch)
    return (
        f"MSE {result.mse:.4g} per value in RevIN space over {result.windows} windows x "
        f"{result.channels} channel(s), beside k-means with {v.codebook_size} codes on raw "
        f"{v.segment}-step segments {v.kmeans_mse:.4g} and each window's mean "
        f"{v.window_mean_mse:.4g} on the same windows ({v.bits_per_value:g} bits per value); "
        f"{result.codes_used} of {result.codebook_size} codes used"
    ), None
