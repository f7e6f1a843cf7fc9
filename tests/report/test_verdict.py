"""report.verdict: a model beside its baselines, and the words when it loses to them."""

from __future__ import annotations

import pytest

from tsvq.report.baseline import Baseline
from tsvq.report.verdict import verdict

BASE = Baseline(
    split="test",
    codebook_size=256,
    segment=4,
    revin=True,
    kmeans_mse=0.028,
    window_mean_mse=0.9999,
    kmeans_mse_per_channel=(0.028,),
    window_mean_mse_per_channel=(0.9999,),
    fit_segments=300_032,
    seconds=1.0,
)


@pytest.mark.parametrize(
    ("mse", "dead", "worse", "words"),
    [
        (0.021, 3, (), None),
        (0.063, 9, ("kmeans",), "worse than k-means with 256 codes on raw 4-step segments"),
        (0.063, 200, ("kmeans",), "dead codes (200 of 256 never used on this split)"),
        (1.089, 196, ("kmeans", "window_mean"), "worse than predicting each window's mean"),
    ],
)
def test_the_verdict_names_what_the_model_loses_to(mse, dead, worse, words) -> None:
    v = verdict(mse, BASE, dead_codes=dead, epoch=3)
    assert v.worse_than == worse
    assert v.gain_percent == pytest.approx(100 * (1 - mse / 0.028))
    assert v.bits_per_value == 2.0
    if words is None:
        assert v.warning is None
    else:
        assert (
            words in v.warning
            and "too few training steps (the checkpoint is epoch 3's)" in v.warning
        )
        assert ("dead codes" in v.warning) == (dead > 64)
    d = v.to_dict()
    assert d["worse_than"] == list(worse) and d["kmeans_mse"] == 0.028 and "mse" not in d


def test_a_tie_with_the_baseline_is_not_a_win() -> None:
    assert verdict(0.028, BASE, dead_codes=0).worse_than == ("kmeans",)
