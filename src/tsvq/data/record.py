"""What a model was trained on: one record, kept by checkpoints and exported folders alike.

`DataRecord` says which data (the `DataSpec`: dataset, file, window, features, target,
channel), how it was scaled (the scaler fitted on the training rows), which channels by name,
how many the features flag selects (the original's `n_channels`), the split rule, and the
sha256 of the file read (a run names its data by resolved path plus digest). A
checkpoint keeps all of it; an exported folder keeps no paths, so a record read from one has
`root_path` and `data_path` None. The record checks that its parts agree when it is made.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field, replace
from typing import Annotated, Any

import numpy as np

from tsvq.checks import Bound, Positive, check_fields
from tsvq.data.registry import split_rule
from tsvq.data.windows import DataSpec, Scaler, ScalerKind, refit_scaler
from tsvq.errors import ConfigError

Sha256 = Annotated[
    str, Bound("the sha256 of the file trained on (64 hex digits)", lambda v: _HEX64.fullmatch(v))
]
_HEX64 = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True)
class ScalerFields:
    """A fitted scaler as a file holds it: its kind, one shift and one scale per channel."""

    kind: ScalerKind
    shift: list[float]
    scale: list[float]

    def __post_init__(self) -> None:
        check_fields(self)
        for name in ("shift", "scale"):
            with np.errstate(over="ignore"):
                if not np.isfinite(np.asarray(getattr(self, name), np.float32)).all():
                    raise ConfigError(name, f"{name} holds a value beyond float32")
        if not len(self.shift) == len(self.scale) > 0:
            raise ConfigError(
                None,
                f"has {len(self.shift)} shift(s) and {len(self.scale)} scale(s), expected the "
                "same, non-zero number (one per channel)",
            )
        if min(self.scale) <= 0:
            raise ConfigError(
                "scale", "has a scale that is not positive (each channel's must be > 0)"
            )

    def build(self) -> Scaler:
        return Scaler.from_dict(asdict(self))


@dataclass(frozen=True)
class DataRecord:
    """What a model was trained on (see the module's docstring)."""

    spec: DataSpec
    scaler: Scaler | None  # None until refitted: a checkpoint of the original records none
    columns: tuple[str, ...] = ()  # the channels trained on, in order (empty: not recorded)
    n_channels: Positive | None = 1  # channels `features` selects; None where not recorded
    split_rule: dict[str, Any] = field(default_factory=dict)  # {}: not recorded (dset's own)
    # the sha256 of the file read (spec.data_path), recorded since issue 25; None: not recorded
    sha256: Sha256 | None = None

    def __post_init__(self) -> None:
        check_fields(self)
        c, n, channel = len(self.columns), self.n_channels, self.spec.channel
        if self.scaler is not None and c and len(self.scaler.shift) != c:
            raise ConfigError(
                "columns",
                f"{c} column(s) but scaler statistics for {len(self.scaler.shift)}; the file "
                "is damaged",
            )
        if channel is not None and (c not in (0, 1) or n is not None and channel >= n):
            raise ConfigError(
                "channel",
                f"channel {channel} with {c} column(s) of n_channels={n}: a run on one channel "
                "has one column, below n_channels",
            )
        if channel is None and c and n is not None and c != n:
            raise ConfigError("columns", f"{c} column name(s) for n_channels={n}")
        rule = asdict(split_rule(self.spec.dset))
        if self.split_rule and self.split_rule != rule:
            raise ConfigError(
                "split_rule",
                f"split_rule is {self.split_rule!r}, but {self.spec.dset} is split by {rule!r}",
            )

    def to_dict(self) -> dict[str, Any]:
        """The record as a checkpoint holds it: DataSpec's fields, the fitted scaler beside."""
        return {
            **asdict(self.spec),
            "scaler": self.scaler.to_dict() if self.scaler else None,
            "columns": list(self.columns),
            "n_channels": self.n_channels,
            "split_rule": dict(self.split_rule),
            "sha256": self.sha256,
        }

    def refitted(self) -> DataRecord:
        """The record with its scaler: refitted on the training split of the dataset's usual
        file when it records none (as the original's data loader fitted it)."""
        if self.scaler is not None:
            return self
        scaler, columns = refit_scaler(self.spec)
        return replace(self, scaler=scaler, columns=columns)
