"""Splits, scalers and sliding windows: from a validated table to batches of series.

The data path is one array per split; windows are zero-copy views of it and a batch gathers
only the rows it needs, so memory does not grow with the number of windows.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Literal, get_args

import numpy as np
import torch
from numpy.lib.stride_tricks import sliding_window_view

from tsvq.data.collection import SeriesCollection, Windows, WindowView, count_windows
from tsvq.data.gaps import fill_series
from tsvq.data.registry import REGISTRY, SplitRule, resolve_path, split_rule

# the scaler lives in its own module; its names stay importable from here, where they were
from tsvq.data.scaler import SCALERS as SCALERS
from tsvq.data.scaler import Scaler as Scaler
from tsvq.data.scaler import ScalerKind as ScalerKind
from tsvq.data.spec import FEATURES as FEATURES
from tsvq.data.spec import DataSpec as DataSpec
from tsvq.data.spec import Features as Features
from tsvq.data.table import Table, read_table
from tsvq.data.userfile import read_series
from tsvq.errors import TsvqError

Split = Literal["train", "val", "test"]
SPLITS = get_args(Split)


def split_bounds(
    n_rows: int,
    rule: SplitRule,
    context_points: int,
    short_ok: bool = False,
    advise: bool = True,
) -> dict[str, tuple[int, int]]:
    """Row ranges [start, end) of each split, as PatchTST's loaders cut them.

    Each split after the first starts `context_points` rows early so its first window is whole.
    `short_ok` (one series of several): a split too short for a window is an empty range
    instead of an error. `advise`: a refusal names the flag that helps (--context_points; not
    for a command that reads a trained model's window).
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
        if short_ok and (start < 0 or end - start < context_points):
            start = end = min(max(start, 0), end)
        elif start < 0 or end - start < context_points:
            raise TsvqError(
                f"{name} split has {max(end - max(start, 0), 0)} rows, too short for "
                f"context_points={context_points}"
                + ("; use a shorter --context_points or more data" if advise else "")
            )
        bounds[name] = (start, end)
    return bounds


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
    """Scaled rows of each split, the fitted scaler, and the names of the chosen channels.

    A split's rows hold the split's part of every series of the collection, one after the
    other; `offsets[split]` ([0, ..., rows]) says where each series' part starts (None: the
    split is one series, as a benchmark's is). Windows never cross from one part to the next.
    """

    spec: DataSpec
    splits: dict[str, np.ndarray]  # split -> [rows, C] float32, scaled
    starts: dict[str, int]  # split -> first row's index in the file (of the first series)
    scaler: Scaler
    columns: list[str]  # names of the channels in `splits`, in order
    n_file_channels: int
    n_vars: int = 0  # channels `features` selects, before `channel` picks one (the original's)
    sha256: str | None = None  # of the file read, or of the values made in memory
    offsets: dict[str, np.ndarray] | None = None  # split -> series boundaries; None: one series
    names: tuple[str, ...] = ()  # the series' names, when several
    # split -> the row of each series its part starts at (its first row is 0), when several
    part_starts: dict[str, list[int]] = field(default_factory=dict)
    # split -> bool [rows, C], True where --missing interpolate filled a gap; None: no value was
    filled: dict[str, np.ndarray] | None = None

    @property
    def n_channels(self) -> int:
        return len(self.columns)

    @property
    def n_series(self) -> int:
        return len(self.names) if self.offsets is not None else 1

    @property
    def n_left_out(self) -> int:
        """Series too short for a training window (70% of their rows < context_points): they
        give no window to any split."""
        if self.offsets is None:
            return 0
        return int((np.diff(self.offsets["train"]) < self.spec.context_points).sum())

    def windows(self, split: str) -> Windows:
        """Zero-copy sliding windows of a split: [n_windows, C, context_points]."""
        return self._windows(split, self.spec.context_points)

    def _windows(self, split: str, length: int) -> Windows:
        rows = self.splits[split]
        if self.offsets is None:
            return sliding_window_view(rows, length, axis=0)
        return WindowView(rows, self.offsets[split], length)

    def filled_windows(self, split: str) -> Windows | None:
        """Where the windows of a split hold filled values ([n_windows, C, context_points]
        bool, as `windows`), or None when no value was filled."""
        if self.filled is None:
            return None
        rows, t = self.filled[split], self.spec.context_points
        if self.offsets is None:
            return sliding_window_view(rows, t, axis=0)
        return WindowView(rows, self.offsets[split], t)

    def n_windows(self, split: str) -> int:
        if self.offsets is None:
            return self.splits[split].shape[0] - self.spec.context_points + 1
        return count_windows(self.offsets[split], self.spec.context_points)

    def window_origin(self, split: str, w: int) -> tuple[str | None, int]:
        """(series name, or None for a single series; its row) where window `w` starts."""
        if self.offsets is None:
            return None, self.starts[split] + w
        view = WindowView(self.splits[split], self.offsets[split], self.spec.context_points)
        row = view.start(w)
        k = int(np.searchsorted(self.offsets[split], row, side="right")) - 1
        return self.names[k], row - int(self.offsets[split][k]) + self.part_starts[split][k]

    def forecast_windows(self, split: str, horizon: int) -> Windows:
        """Zero-copy windows of context and target: [n_windows, C, context_points + horizon].

        The first context_points steps of a window are its context, the other `horizon` its
        target; both lie within the split's rows of one series, as PatchTST's forecasting
        loaders cut them (a later split starts context_points rows early, so its first target
        starts at its first row): n_windows = rows - context_points - horizon + 1 per series.
        """
        if isinstance(horizon, bool) or not isinstance(horizon, int) or horizon < 1:
            raise TsvqError(f"horizon must be a positive integer, got {horizon!r}")
        need = self.spec.context_points + horizon
        offsets = self.offsets[split] if self.offsets is not None else None
        rows = self.splits[split].shape[0]
        if (count_windows(offsets, need) if offsets is not None else rows - need + 1) < 1:
            where = f"has {rows} rows"
            if offsets is not None:
                where = f"has {int(np.diff(offsets).max())} rows in its longest series"
            raise TsvqError(
                f"the {split} split {where}, too short for context_points="
                f"{self.spec.context_points} + horizon={horizon}; "
                "use a shorter context or horizon, or more data"
            )
        return self._windows(split, need)


def load(spec: DataSpec, sha256: str | None = None, hints: bool = False) -> SeriesData:
    """Read, split and scale a dataset as `spec` says; `sha256`, when given, is the digest the
    file must have (a repeated run's record); `hints`: refusals name train's data flags."""
    path = resolve_path(spec.dset, spec.root_path, spec.data_path)
    return prepare(read_series(path, spec, sha256, hints), spec)


def refit_scaler(spec: DataSpec) -> tuple[Scaler, tuple[str, ...]]:
    """The scaler of a run that recorded none (the original script's checkpoint): fitted again
    on the training split of the dataset's usual file, as the original's data loader fitted it;
    and the channels' names."""
    path = resolve_path(spec.dset, None, None)
    data = prepare(read_table(path, spec.dset), spec, scaler=None, advise=False)
    return data.scaler, tuple(data.columns)


def _check_scaled(
    scaled: np.ndarray, scaler: Scaler, columns: list[str], advise: bool = True
) -> None:
    """Refuse a scaler whose statistics or scaled values overflow float32 (one line)."""
    with np.errstate(all="ignore"):
        bad = ~(np.isfinite(scaler.shift) & np.isfinite(scaler.scale)) | ~np.isfinite(scaled).all(0)
    if bad.any():
        k = int(np.argmax(bad))
        raise TsvqError(
            f"scaler={scaler.kind!r} overflows float32 on column {columns[k]!r} (shift "
            f"{scaler.shift[k]:.4g}, scale {scaler.scale[k]:.4g}): its values span more than "
            "float32 holds (3.4e38) or lie far outside the training rows; rescale the column"
            + (" or choose another --scaler" if advise else "")
        )


def prepare(
    table: Table | SeriesCollection,
    spec: DataSpec,
    scaler: Scaler | None = None,
    advise: bool = True,
) -> SeriesData:
    """Split and scale an already read table, or a collection of series (each split on its
    own by the chronological rule); `scaler` reuses saved statistics when given. `advise`:
    refusals name train's flags that help (eval and plot have none of them)."""
    if spec.context_points < 1:
        raise TsvqError(f"context_points must be a positive integer, got {spec.context_points}")
    data, filled = fill_gaps(as_collection(table), spec.missing)
    cols = select_columns(list(data.columns), spec.dset, spec.features, spec.target)
    n_vars = len(cols)
    if spec.channel is not None:
        if not 0 <= spec.channel < len(cols):
            raise TsvqError(
                f"channel={spec.channel} is out of range; the data has {len(cols)} channel(s), "
                f"allowed 0..{len(cols) - 1}"
            )
        cols = [cols[spec.channel]]
    names = [data.columns[i] for i in cols]
    rule, several = split_rule(spec.dset), len(data) > 1
    bounds = [split_bounds(n, rule, spec.context_points, several, advise) for n in data.lengths]
    if several and all(b["train"][1] - b["train"][0] < spec.context_points for b in bounds):
        raise TsvqError(
            f"none of the {len(data)} series is long enough for a window of context_points="
            f"{spec.context_points} in each split (the longest has {max(data.lengths)} rows, "
            "cut 70/10/20)"
            + ("; use a shorter --context_points or longer series" if advise else "")
        )
    if scaler is None:
        train = [
            s[a:b, cols]
            for s, (a, b) in zip(data.series, (x["train"] for x in bounds), strict=True)
        ]
        scaler = Scaler.fit(spec.scaler, train[0] if len(train) == 1 else np.concatenate(train))
    if not several:  # one series: the splits are views of its scaled rows
        scaled = scaler.transform(data.series[0][:, cols])
        _check_scaled(scaled, scaler, names, advise)
        splits = {name: scaled[a:b] for name, (a, b) in bounds[0].items()}
        offsets = None
    else:
        splits, offsets = _stack(data, cols, bounds, scaler, names, advise)
    masks = None
    if filled is not None and any(f[:, cols].any() for f in filled):
        masks = _parts([f[:, cols] for f in filled], bounds)
    return SeriesData(
        spec=spec,
        splits=splits,
        starts={name: a for name, (a, _) in bounds[0].items()},
        scaler=scaler,
        columns=names,
        n_file_channels=len(data.columns),
        n_vars=n_vars,
        sha256=data.sha256,
        offsets=offsets,
        names=data.names if several else (),
        part_starts={k: [b[k][0] for b in bounds] for k in SPLITS} if several else {},
        filled=masks,
    )


def fill_gaps(
    data: SeriesCollection, missing: str
) -> tuple[SeriesCollection, list[np.ndarray] | None]:
    """`--missing interpolate`: each series' gaps filled along time (`gaps.fill_series`), and
    where (bool [T_i, C] each); else the collection as it is and None."""
    if missing != "interpolate":
        return data, None
    pairs = [fill_series(s, data.columns, n) for s, n in zip(data.series, data.names, strict=True)]
    series = tuple(p[0] for p in pairs)
    return dataclasses.replace(data, series=series), [p[1] for p in pairs]


def _parts(rows: list[np.ndarray], bounds: list[dict[str, tuple[int, int]]]) -> dict:
    """Each split's part of every series' `rows`, one after the other (as `_stack` lays out
    the values)."""
    return {
        split: np.concatenate(
            [r[b[split][0] : b[split][1]] for r, b in zip(rows, bounds, strict=True)]
        )
        for split in SPLITS
    }


def as_collection(table: Table | SeriesCollection) -> SeriesCollection:
    """A table read from a file as the collection of its one series."""
    if isinstance(table, SeriesCollection):
        return table
    return SeriesCollection(
        (table.values,), tuple(table.columns), ("",), (table.dates,), table.sha256
    )


def _stack(
    data: SeriesCollection,
    cols: list[int],
    bounds: list[dict[str, tuple[int, int]]],
    scaler: Scaler,
    names: list[str],
    advise: bool = True,
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Each split's scaled parts of every series, one after the other, and where each starts."""
    splits, offsets = {}, {}
    for split in SPLITS:
        parts = [
            scaler.transform(s[b[split][0] : b[split][1], cols])
            for s, b in zip(data.series, bounds, strict=True)
        ]
        for part in parts:
            _check_scaled(part, scaler, names, advise)
        offsets[split] = np.concatenate([[0], np.cumsum([len(p) for p in parts])]).astype(np.int64)
        splits[split] = np.concatenate(parts)
    return splits, offsets


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


def keep_batches(
    data: SeriesData,
    split: str,
    batch_size: int,
    order: np.ndarray | None = None,
    max_batches: int | None = None,
) -> Iterator[torch.Tensor | None]:
    """Beside `series_batches` (the same arguments, the same series): float [B, T], 0 where a
    value was filled (`--missing interpolate`), 1 elsewhere; None for every batch when no value
    of the data was filled."""
    views, n_channels = data.filled_windows(split), data.n_channels
    n = len(order) if order is not None else data.n_windows(split) * n_channels
    for b in range(count_batches(n, batch_size, max_batches)):
        if views is None:
            yield None
            continue
        idx = order[b * batch_size : (b + 1) * batch_size] if order is not None else None
        if idx is None:
            idx = np.arange(b * batch_size, min(n, (b + 1) * batch_size))
        yield torch.from_numpy(~views[idx // n_channels, idx % n_channels]).float()


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
