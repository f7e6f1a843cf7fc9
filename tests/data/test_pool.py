"""data.pool: benchmark training splits as one collection of univariate series."""

from __future__ import annotations

import numpy as np
import pytest

from tsvq.data.pool import benchmark, training_pool


def test_each_channel_of_each_training_split_is_a_series_scaled_by_its_own_dataset() -> None:
    series, parts = training_pool(["etth1", "etth2"], 96)
    assert [p.dset for p in parts] == ["etth1", "etth2"]
    assert [(p.rows, p.channels) for p in parts] == [(12 * 30 * 24, 7), (12 * 30 * 24, 7)]
    assert len(series) == 14
    assert series[0]["item_id"] == "etth1/HUFL" and series[13]["item_id"] == "etth2/OT"
    h2 = benchmark("etth2", 96)
    # the training rows of etth2's OT, scaled by etth2's own training statistics
    np.testing.assert_array_equal(series[13]["target"], h2.splits["train"][:, -1])
    for s in series:  # standard scaling fitted on exactly these rows
        t = np.asarray(s["target"], dtype=np.float64)
        assert abs(t.mean()) < 1e-3 and abs(t.std() - 1) < 1e-3, s["item_id"]


def test_mix_repeats_the_smaller_datasets_series_toward_equal_shares() -> None:
    # ettm1 has 4x etth1's training rows (15-minute against hourly data, same 12 months)
    natural, parts = training_pool(["etth1", "ettm1"], 96)
    assert [p.repeats for p in parts] == [1, 1] and len(natural) == 14
    for mix, repeats in ((0.0, 4), (0.5, 2)):
        series, parts = training_pool(["etth1", "ettm1"], 96, mix=mix)
        assert [p.repeats for p in parts] == [repeats, 1]
        assert len(series) == 7 * repeats + 7
        ids = [s["item_id"] for s in series]
        assert len(set(ids)) == len(ids)  # every repeat is a series of its own name
        assert ids[7] == "etth1/HUFL#1"
        for k in range(repeats):  # each repeat is the same rows
            np.testing.assert_array_equal(series[7 * k]["target"], natural[0]["target"])
        values = {
            p: sum(len(s["target"]) for s in series if s["item_id"].startswith(p))
            for p in ("etth1/", "ettm1/")
        }
        assert values["etth1/"] == repeats * values["ettm1/"] // 4


def test_a_mix_outside_0_to_1_is_refused() -> None:
    for mix in (-0.1, 1.5):
        with pytest.raises(ValueError, match=f"mix must be in \\[0, 1\\], not {mix}"):
            training_pool(["etth1"], 96, mix=mix)


def test_a_weight_multiplies_one_datasets_repeats_and_bad_weights_are_refused() -> None:
    _, equal = training_pool(["etth1", "ettm1"], 96, mix=0.0)
    series, parts = training_pool(["etth1", "ettm1"], 96, mix=0.0, weights={"ettm1": 2.5})
    # round(1 x 2.5) = 2 (half to even), etth1 untouched
    assert [p.repeats for p in parts] == [equal[0].repeats, 2]
    assert sum(s["item_id"].startswith("ettm1/") for s in series) == 2 * 7
    for weights, words in (
        ({"weather": 2.0}, "weight for 'weather': not one of the pool's etth1"),
        ({"etth1": 0.0}, "weight for 'etth1' must be above 0, not 0.0"),
        ({"etth1": float("nan")}, "weight for 'etth1' must be above 0, not nan"),
    ):
        with pytest.raises(ValueError, match=words):
            training_pool(["etth1"], 96, weights=weights)


def test_aggregate_adds_block_means_of_every_series_and_drops_too_short_copies() -> None:
    (plain, *_), _ = training_pool(["etth1"], 96)
    series, parts = training_pool(["etth1", "ettm1"], 96, aggregate=(1, 3, 64))
    # etth1: 8,640 training rows; at factor 64 its copy (135 values) is under two windows,
    # ettm1's (34,560 rows: 540 values) is not
    assert [p.aggregates for p in parts] == [(1, 3), (1, 3, 64)]
    ids = [s["item_id"] for s in series]
    assert ids[:8] == [*(f"etth1/{c}" for c in benchmark("etth1", 96).columns), "etth1/HUFL@3"]
    assert "ettm1/OT@64" in ids and not any(i.startswith("etth1/") and "@64" in i for i in ids)
    assert len(series) == 7 * 2 + 7 * 3
    third = series[7]["target"]
    raw = np.asarray(plain["target"], dtype=np.float64)
    n = len(raw) // 3
    assert third.dtype == np.float32 and len(third) == n
    np.testing.assert_allclose(third[:5], [raw[3 * i : 3 * i + 3].mean() for i in range(5)], 1e-6)
    np.testing.assert_allclose(third[-1], raw[3 * n - 3 : 3 * n].mean(), 1e-6)
    # a context longer than half of etth1's training rows: the series stay, no copy does
    short, parts = training_pool(["etth1"], 8640 // 2 + 16, aggregate=(1, 2))
    assert parts[0].aggregates == (1,) and len(short) == 7
    for bad in ((), (0,), (2.5,), (True,)):
        with pytest.raises(ValueError, match="aggregate factors must be whole numbers >= 1"):
            training_pool(["etth1"], 96, aggregate=bad)


def test_synthetic_series_join_the_pool_as_a_dataset_of_their_own() -> None:
    series, parts = training_pool(["etth1"], 96, mix=0.0, synthetic=10)
    assert parts[-1].dset == "synthetic" and (parts[-1].rows, parts[-1].channels) == (2000, 10)
    # equal shares: etth1's 8,640 x 7 values against 2,000 x 10 -> synthetic repeated 3 times
    assert parts[-1].repeats == round(8640 * 7 / 20000) and parts[-1].sha256 is None
    made = [s for s in series if s["item_id"].startswith("synthetic/")]
    assert len(made) == 10 * parts[-1].repeats and made[0]["item_id"] == "synthetic/s0"
    again, _ = training_pool(["etth1"], 96, mix=0.0, synthetic=10)
    for a, b in zip(series, again, strict=True):  # deterministic
        np.testing.assert_array_equal(a["target"], b["target"])
