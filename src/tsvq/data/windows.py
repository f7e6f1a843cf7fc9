"""Splits, scalers and sliding windows: from a validated table to batches of series.

The data path is one array per split; windows are zero-copy views of it and a batch gathers
only the rows it needs, so memory does not grow with the number of windows.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated, Literal, get_args

import numpy as np
import torch
from numpy.lib.stride_tricks import sliding_window_view

from tsvq.checks import Bound, Positive, check_fields
from tsvq.data.registry import DATASET_NAMES, REGISTRY, SplitRule, resolve_path, split_rule
from tsvq.data.table import Table, read_table
from tsvq.errors import TsvqError

Split = Literal["train", "val", "test"]
SPLITS = get_args(Split)
ScalerKind = Literal["standard", "minmax", "none"]
Features = Literal["M", "S", "MS"]
SCALERS, FEATURES = get_args(ScalerKind), get_args(Features)


def split_bounds(n_rows: int, rule: SplitRule, context_points: int) -> dict[str, tuple[int, int]]:
    """Row ranges [start, end) of each split, as PatchTST's loaders cut them.

    Each split after the first starts `context_points` rows early so its first window is whole.
    """
    if rule.kind == "months":
        day = rule.rows_per_day
        ends = [12 * 30 * day, 16 * 30 * day, 20 * 30 * day]
        if n_rows < ends[2]:
            raise TsvqError(f"the 12/4/4-month split needs {ends[2]} rows, the file has {n_rows}")
    else:
        n_train = int(n_rows * 0.7)
        n_test = int(n_rows * 0.2)
        ends = [n_train, n_rows - n_test, n_rows]
    starts = [0, ends[0] - context_points, ends[1] - context_points]
    bounds = {}
    for name, start, end in zip(SPLITS, starts, ends, strict=True):
        if start < 0 or end - start < context_points:
            raise TsvqError(
                f"{name} split has {max(end - max(start, 0), 0)} rows, too short for "
                f"context_points={context_points}; use a shorter --context_points or more data"
            )
        bounds[name] = (start, end)
    return bounds


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


Dataset = Annotated[
    str, Bound(f"one of {', '.join(DATASET_NAMES)}", lambda v: v in DATASET_NAMES)
]  # the registry's names: a table, so no Literal spelled out twice
Path_ = Annotated[str | None, Bound("a path")]


@dataclass(frozen=True)
class DataSpec:
    """Everything that picks the rows and channels of a run; saved in checkpoints."""

    dset: Dataset
    root_path: Path_
    data_path: Path_
    context_points: Positive
    scaler: ScalerKind = "standard"
    features: Features = "M"
    target: Annotated[str, Bound("a column name")] = "OT"
    channel: Annotated[
        int | None, Bound("an integer >= 0 or None", lambda v: v is None or v >= 0)
    ] = None

    def __post_init__(self) -> None:
        check_fields(self)


def select_columns(columns: list[str], dset: str, features: str, target: str) -> list[int]:
    """Column indices for `features` (M all, S the target, MS all with the target last)."""
    if features not in FEATURES:
        raise TsvqError(f"features={features!r} is not one of {', '.join(FEATURES)}")
    if target not in columns:
        if features != "M":
            raise TsvqError(
                f"target column {target!r} not in the data; columns are {', '.join(columns)}"
            )
        return list(range(len(columns)))
    t = columns.index(target)
    if features == "S":
        return [t]
    target_last = REGISTRY[dset].target_last if dset in REGISTRY else True
    if target_last or features == "MS":
        return [i for i in range(len(columns)) if i != t] + [t]
    return list(range(len(columns)))


@dataclass
class SeriesData:
    """Scaled rows of each split, the fitted scaler, and the names of the chosen channels."""

    spec: DataSpec
    splits: dict[str, np.ndarray]  # split -> [rows, C] float32, scaled
    starts: dict[str, int]  # split -> first row's index in the file
    scaler: Scaler
    columns: list[str]  # names of the channels in `splits`, in order
    n_file_channels: int
    n_vars: int = 0  # channels `features` selects, before `channel` picks one (the original's)
    sha256: str | None = None  # of the file read (None for a table made in memory)

    @property
    def n_channels(self) -> int:
        return len(self.columns)

    def windows(self, split: str) -> np.ndarray:
        """Zero-copy sliding windows of a split: [n_windows, C, context_points]."""
        return sliding_window_view(self.splits[split], self.spec.context_points, axis=0)

    def n_windows(self, split: str) -> int:
        return self.splits[split].shape[0] - self.spec.context_points + 1

    def forecast_windows(self, split: str, horizon: int) -> np.ndarray:
        """Zero-copy windows of context and target: [n_windows, C, context_points + horizon].

        The first context_points steps of a window are its context, the other `horizon` its
        target; both lie within the split's rows, as PatchTST's forecasting loaders cut them (a
        later split starts context_points rows early, so its first target starts at its first
        row): n_windows = rows - context_points - horizon + 1.
        """
        if isinstance(horizon, bool) or not isinstance(horizon, int) or horizon < 1:
            raise TsvqError(f"horizon must be a positive integer, got {horizon!r}")
        rows, need = self.splits[split].shape[0], self.spec.context_points + horizon
        if rows < need:
            raise TsvqError(
                f"the {split} split has {rows} rows, too short for context_points="
                f"{self.spec.context_points} + horizon={horizon}; use a shorter context or "
                "horizon, or more data"
            )
        return sliding_window_view(self.splits[split], need, axis=0)


def load(spec: DataSpec, sha256: str | None = None) -> SeriesData:
    """Read, split and scale a dataset as `spec` says; `sha256`, when given, is the digest the
    file must have (a repeated run's record)."""
    path = resolve_path(spec.dset, spec.root_path, spec.data_path)
    return prepare(read_table(path, spec.dset, sha256), spec)


def refit_scaler(spec: DataSpec) -> tuple[Scaler, tuple[str, ...]]:
    """The scaler of a run that recorded none (the original script's checkpoint): fitted again
    on the training split of the dataset's usual file, as the original's data loader fitted it;
    and the channels' names."""
    data = prepare(read_table(resolve_path(spec.dset, None, None), spec.dset), spec, scaler=None)
    return data.scaler, tuple(data.columns)


def _check_scaled(scaled: np.ndarray, scaler: Scaler, columns: list[str]) -> None:
    """Refuse a scaler whose statistics or scaled values overflow float32 (one line)."""
    with np.errstate(all="ignore"):
        bad = ~(np.isfinite(scaler.shift) & np.isfinite(scaler.scale)) | ~np.isfinite(scaled).all(0)
    if bad.any():
        k = int(np.argmax(bad))
        raise TsvqError(
            f"scaler={scaler.kind!r} overflows float32 on column {columns[k]!r} (shift "
            f"{scaler.shift[k]:.4g}, scale {scaler.scale[k]:.4g}): its values span more than "
            "float32 holds (3.4e38) or lie far outside the training rows; rescale the column "
            "or choose another --scaler"
        )


def prepare(table: Table, spec: DataSpec, scaler: Scaler | None = None) -> SeriesData:
    """Split and scale an already read table; `scaler` reuses saved statistics when given."""
    if spec.context_points < 1:
        raise TsvqError(f"context_points must be a positive integer, got {spec.context_points}")
    cols = select_columns(table.columns, spec.dset, spec.features, spec.target)
    n_vars = len(cols)
    if spec.channel is not None:
        if not 0 <= spec.channel < len(cols):
            raise TsvqError(
                f"channel={spec.channel} is out of range; the data has {len(cols)} channel(s), "
                f"allowed 0..{len(cols) - 1}"
            )
        cols = [cols[spec.channel]]
    values = table.values[:, cols]
    bounds = split_bounds(len(values), split_rule(spec.dset), spec.context_points)
    train_start, train_end = bounds["train"]
    if scaler is None:
        scaler = Scaler.fit(spec.scaler, values[train_start:train_end])
    scaled = scaler.transform(values)
    _check_scaled(scaled, scaler, [table.columns[i] for i in cols])
    return SeriesData(
        spec=spec,
        splits={name: scaled[a:b] for name, (a, b) in bounds.items()},
        starts={name: a for name, (a, _) in bounds.items()},
        scaler=scaler,
        columns=[table.columns[i] for i in cols],
        n_file_channels=len(table.columns),
        n_vars=n_vars,
        sha256=table.sha256,
    )


def epoch_order(
    n: int, seed: int, epoch: int, shuffle: bool = True, limit: int | None = None
) -> np.ndarray:
    """The order of the `n` series in an epoch: a function of (seed, epoch) alone.

    Deriving it from the epoch number makes a resumed run see the same data order as an
    uninterrupted one, and every distributed process compute the same permutation. `limit`
    keeps a random `limit` of the series, drawn without replacement in O(limit) memory (a
    traffic-sized set has 10 million series); unshuffled, that subset is in file order.
    """
    rng = np.random.default_rng([seed, epoch])
    if limit is not None and limit < n:
        pick = rng.choice(n, size=limit, replace=False)
        return pick if shuffle else np.sort(pick)
    if not shuffle:
        return np.arange(n)
    return rng.permutation(n)


def series_batches(
    data: SeriesData,
    split: str,
    batch_size: int,
    order: np.ndarray | None = None,
    max_batches: int | None = None,
) -> Iterator[torch.Tensor]:
    """Batches of series [B, T]; series k is channel k % C of window k // C.

    Each channel of each window is one series for the one shared model (channel independence).
    `order` permutes the series; None keeps file order.
    """
    views = data.windows(split)  # [n_windows, C, T], a view
    n_channels = views.shape[1]
    if order is None:
        order = np.arange(views.shape[0] * n_channels)
    n_batches = -(-len(order) // batch_size)
    if max_batches is not None:
        n_batches = min(n_batches, max_batches)
    for b in range(n_batches):
        idx = order[b * batch_size : (b + 1) * batch_size]
        batch = views[idx // n_channels, idx % n_channels]  # gathers a copy [B, T]
        yield torch.from_numpy(np.ascontiguousarray(batch))


def window_chunks(data: SeriesData, split: str, max_values: int) -> Iterator[np.ndarray]:
    """Consecutive windows of a split in chunks [b, C, T] of at most `max_values` values (one
    window at least): memory bounded whatever the split's size."""
    views = data.windows(split)
    step = max(1, max_values // (views.shape[1] * views.shape[2]))
    for start in range(0, views.shape[0], step):
        yield np.array(views[start : start + step])  # a writable copy of this chunk only


def count_batches(n_series: int, batch_size: int, max_batches: int | None) -> int:
    n = -(-n_series // batch_size)
    return n if max_batches is None else min(n, max_batches)
