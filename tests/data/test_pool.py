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
