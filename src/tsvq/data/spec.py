"""What picks a run's rows and channels (`DataSpec`): the dataset and file, the window, the
features and target, one channel, and how a user's own file is read. Saved in checkpoints."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Literal, get_args

from tsvq.checks import Bound, Positive, check_fields
from tsvq.data.gaps import Missing
from tsvq.data.registry import DATASET_NAMES
from tsvq.data.scaler import ScalerKind

Features = Literal["M", "S", "MS"]
FEATURES = get_args(Features)


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
    # how a user's own file is read (--columns, --exclude, --id_column, --timestamp_column,
    # --missing): recorded, so eval, plot and encode read the same series from it
    value_columns: tuple[str, ...] | None = None  # None: every value column
    exclude_columns: tuple[str, ...] = ()
    id_column: str | None = None  # a long file: one series per id
    timestamp_column: str | None = None  # None: a first column of dates, or one named so
    missing: Missing = "error"

    def __post_init__(self) -> None:
        check_fields(self)

    @property
    def reads_layout(self) -> bool:
        """Whether a flag chose the columns or layout of the file (not a plain wide read)."""
        return bool(
            self.value_columns is not None
            or self.exclude_columns
            or self.id_column
            or self.timestamp_column
        )


# DataSpec's fields a record written before them lacks (their defaults read such a record)
SPEC_FIELDS_SINCE_21 = (
    "value_columns",
    "exclude_columns",
    "id_column",
    "timestamp_column",
    "missing",
)
