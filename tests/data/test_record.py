"""The one record of what a model was trained on (`tsvq.data.record`): its parts agree or it
is not made, and a fitted scaler as a file holds it is read only when usable."""

from __future__ import annotations

import re
from dataclasses import asdict
from typing import Any

import numpy as np
import pytest

from tsvq.data.record import DataRecord, ScalerFields
from tsvq.data.registry import split_rule
from tsvq.data.windows import DataSpec, Scaler
from tsvq.errors import ConfigError

SPEC = DataSpec("etth1", None, None, 96)


def _scaler(n: int) -> Scaler:
    return Scaler("standard", np.zeros(n, np.float32), np.ones(n, np.float32))


def test_a_record_of_every_source_is_made() -> None:
    run = DataRecord(SPEC, _scaler(3), ("a", "b", "c"), 3, asdict(split_rule("etth1")))
    folder = DataRecord(DataSpec("etth1", None, None, 96, channel=2), _scaler(1), ("c",), None)
    original = DataRecord(DataSpec("etth1", None, None, 96, channel=0), None, (), 7)
    assert run.to_dict()["scaler"]["shift"] == [0.0, 0.0, 0.0] and folder.n_channels is None
    assert original.scaler is None and original.to_dict()["scaler"] is None


@pytest.mark.parametrize(
    ("parts", "field", "message"),
    [
        ({"columns": ("a",)}, "columns", "1 column(s) but scaler statistics for 3"),
        ({"n_channels": 2}, "columns", "3 column name(s) for n_channels=2"),
        ({"n_channels": 0}, "n_channels", "n_channels must be a positive integer or None"),
        ({"columns": ("a", 1, "c")}, "columns", "columns must be a list of str"),
        ({"split_rule": {"kind": "ratio"}}, "split_rule", "but etth1 is split by"),
        ({"spec": DataSpec("etth1", None, None, 96, channel=1)}, "channel", "channel 1 with 3"),
        (
            {
                "spec": DataSpec("etth1", None, None, 96, channel=5),
                "columns": ("a",),
                "scaler": _scaler(1),
                "n_channels": 3,
            },
            "channel",
            "below n_channels",
        ),
    ],
)
def test_parts_that_disagree_are_refused(parts: dict[str, Any], field: str, message: str) -> None:
    given = {"spec": SPEC, "scaler": _scaler(3), "columns": ("a", "b", "c"), "n_channels": 3}
    with pytest.raises(ConfigError, match=re.escape(message)) as info:
        DataRecord(**{**given, **parts})
    assert info.value.field == field


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"shift": [0.0, 1e39]}, "shift holds a value beyond float32"),
        ({"scale": [1.0, 0.0]}, "has a scale that is not positive"),
        ({"scale": [1.0]}, "has 2 shift(s) and 1 scale(s)"),
        ({"shift": [], "scale": []}, "has 0 shift(s) and 0 scale(s)"),
        ({"kind": "robust"}, "kind must be one of standard, minmax, none"),
    ],
)
def test_a_scaler_a_file_holds_is_usable_or_refused(fields: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        ScalerFields(**{"kind": "standard", "shift": [0.0, 1.0], "scale": [1.0, 2.0], **fields})
    s = ScalerFields("minmax", [0.0, 1.0], [1.0, 2.0]).build()
    assert (
        s.kind == "minmax"
        and s.scale.dtype == np.float32
        and s == Scaler("minmax", np.array([0, 1], np.float32), np.array([1, 2], np.float32))
    )
