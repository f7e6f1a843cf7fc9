"""data.pool: benchmark training splits as one collection of univariate series."""

from __future__ import annotations

import numpy as np

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
