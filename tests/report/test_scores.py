"""report.scores: a tokenizer on another dataset's test split, beside that dataset's own
k-means codebook."""

from __future__ import annotations

from pathlib import Path

import pytest

from tsvq.data.collection import SeriesCollection
from tsvq.data.registry import resolve_path
from tsvq.data.table import read_table
from tsvq.data.windows import prepare
from tsvq.report.baseline import baseline
from tsvq.report.scores import (
    cached_kmeans_score,
    cached_tokenizer_score,
    kmeans_score,
    target_data,
    tokenizer_score,
)
from tsvq.tokens.tokenizer import Tokenizer


def test_the_codebook_score_is_the_baseline_of_tsvq_eval_and_is_cached(tmp_path: Path) -> None:
    data = target_data("etth1", 32)
    k = kmeans_score(data, 8, 4)
    b = baseline(data, "test", 8, 4)
    assert k.mse == b.kmeans_mse and k.windows == data.n_windows("test")
    # in the units of OT: the same data in units ten times smaller has a hundred times the
    # error there, and the same in RevIN space
    table = read_table(resolve_path("etth1", None, None), "etth1")
    tenfold = SeriesCollection.of([table.values * 10], table.columns)
    k10 = kmeans_score(prepare(tenfold, data.spec), 8, 4)
    assert k10.mse == pytest.approx(k.mse, rel=1e-3)
    assert k10.mse_target == pytest.approx(100 * k.mse_target, rel=1e-3)
    cache = tmp_path / "baselines.json"
    assert cached_kmeans_score(data, 8, 4, cache) == k
    assert cache.is_file()
    cache.write_text(cache.read_text().replace(repr(k.mse)[:8], "9"), encoding="utf-8")
    assert cached_kmeans_score(data, 8, 4, cache).mse != k.mse  # read back, not refitted


def test_a_tokenizer_is_scored_on_a_foreign_dataset_with_that_datasets_scaler(
    tiny_run: Path, tmp_path: Path
) -> None:
    tok = Tokenizer.from_pretrained(tiny_run)
    data = target_data("etth2", tok.cfg.context_points)
    s = tokenizer_score(tok, data)
    assert s.dset == "etth2" and s.windows == data.n_windows("test")
    assert 0 < s.mse < 10 and s.mse_target > 0
    assert s.codes_used is not None and 1 <= s.codes_used <= tok.cfg.num_embeddings
    cache = tmp_path / "scores.json"
    assert cached_tokenizer_score(tok, data, cache) == s
    key = f"tok:etth2/{data.sha256}/{tok.cfg.context_points}/{tok.fingerprint}"
    assert key in cache.read_text(encoding="utf-8")
