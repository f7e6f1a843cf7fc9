"""The scaler fitted on a run's training rows: standard, minmax or none, per channel."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

import numpy as np

from tsvq.errors import TsvqError

ScalerKind = Literal["standard", "minmax", "none"]
SCALERS = get_args(ScalerKind)


@dataclass
class Scaler:
    """x_scaled = (x - shift) / scale, per channel; fitted on the training rows only."""

    kind: str
    shift: np.ndarray  # [C]
    scale: np.ndarray  # [C]

    @classmethod
    def fit(cls, kind: str, rows: np.ndarray) -> Scaler:
        if kind not in SCALERS:
            raise TsvqError(f"scaler={kind!r} is not one of {', '.join(SCALERS)}")
        n = rows.shape[1]
        if kind == "standard":
            shift, scale = rows.mean(axis=0, dtype=np.float64), rows.std(axis=0, dtype=np.float64)
        elif kind == "minmax":
            shift = rows.min(axis=0).astype(np.float64)
            scale = rows.max(axis=0).astype(np.float64) - shift
        else:
            shift, scale = np.zeros(n), np.ones(n)
        # A constant channel keeps scale 1 rather than dividing by zero (as scikit-learn does).
        scale = np.where(scale > 0, scale, 1.0)
        with np.errstate(over="ignore"):  # overflow is refused with a message (_check_scaled)
            return cls(kind, shift.astype(np.float32), scale.astype(np.float32))

    def transform(self, x: np.ndarray) -> np.ndarray:
        return ((x - self.shift) / self.scale).astype(np.float32)

    def inverse(self, x: np.ndarray) -> np.ndarray:
        return (x * self.scale + self.shift).astype(np.float32)

    def to_dict(self) -> dict:
        return {"kind": self.kind, "shift": self.shift.tolist(), "scale": self.scale.tolist()}

    def __eq__(self, other: object) -> bool:  # the statistics compare exactly, as arrays
        return (
            isinstance(other, Scaler)
            and self.kind == other.kind
            and np.array_equal(self.shift, other.shift)
            and np.array_equal(self.scale, other.scale)
        )

    __hash__ = None  # type: ignore[assignment]  # mutable arrays: no hash

    @classmethod
    def from_dict(cls, d: dict) -> Scaler:
        return cls(
            d["kind"], np.asarray(d["shift"], np.float32), np.asarray(d["scale"], np.float32)
        )
