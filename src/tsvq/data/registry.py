"""Dataset registry (a table, not a branch per dataset): files, checksums, split rules, and
where a dataset's file is found (`resolve_path`). Reading a file is `table`'s."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from tsvq.data import embedded
from tsvq.errors import TsvqError

DATA_DIR_ENV = "TSVQ_DATA_DIR"


@dataclass(frozen=True)
class SplitRule:
    """How a series is cut into train / val / test rows.

    `months`: the ETT rule, 12 / 4 / 4 months of 30 days of `rows_per_day` rows.
    `ratio`: the Autoformer rule, 70% / 10% / 20% of the rows.
    """

    kind: Literal["months", "ratio"]
    rows_per_day: int = 0


@dataclass(frozen=True)
class DatasetSpec:
    """Where a benchmark dataset lives under the data directory and how it is split."""

    file: str
    split: SplitRule
    sha256: str
    size: int
    target_last: bool  # PatchTST's custom loader moves the target column last; its ETT loader not


ETT_HOUR = SplitRule("months", rows_per_day=24)
ETT_MINUTE = SplitRule("months", rows_per_day=96)
RATIO = SplitRule("ratio")

REGISTRY: dict[str, DatasetSpec] = {
    "etth1": DatasetSpec(
        "ETT-small/ETTh1.csv",
        ETT_HOUR,
        "f18de3ad269cef59bb07b5438d79bb3042d3be49bdeecf01c1cd6d29695ee066",
        2589657,
        False,
    ),
    "etth2": DatasetSpec(
        "ETT-small/ETTh2.csv",
        ETT_HOUR,
        "a3dc2c597b9218c7ce1cd55eb77b283fd459a1d09d753063f944967dd6b9218b",
        2417960,
        False,
    ),
    "ettm1": DatasetSpec(
        "ETT-small/ETTm1.csv",
        ETT_MINUTE,
        "6ce1759b1a18e3328421d5d75fadcb316c449fcd7cec32820c8dafda71986c9e",
        10360719,
        False,
    ),
    "ettm2": DatasetSpec(
        "ETT-small/ETTm2.csv",
        ETT_MINUTE,
        "db973ca252c6410a30d0469b13d696cf919648d0f3fd588c60f03fdbdbadd1fd",
        9677236,
        False,
    ),
    "weather": DatasetSpec(
        "weather/weather.csv",
        RATIO,
        "9b2b19b13e342d9c9b9c51620d42b4be232df7fba30e7f5c4968b7c79ab138ad",
        7182728,
        True,
    ),
    "illness": DatasetSpec(
        "illness/national_illness.csv",
        RATIO,
        "8594cecb98c6f2f9dc014eca11c4d5d1e38ad5ce6ed0592d4abe65b146fce395",
        66653,
        True,
    ),
    "exchange": DatasetSpec(
        "exchange_rate/exchange_rate.csv",
        RATIO,
        "d55e7aa2641009814a18ba3279431b13f6d413b0eab195b9ff21988d8cf94e97",
        630212,
        True,
    ),
    "electricity": DatasetSpec(
        "electricity/electricity.csv",
        RATIO,
        "7e45845d54c5219bad0ae6bc1b5316cf8ff9cead5d33fa998a5a51c2e4a497ad",
        95581762,
        True,
    ),
    "traffic": DatasetSpec(
        "traffic/traffic.csv",
        RATIO,
        "cb06463d56fa17d87f47027cd9389ceae82a69eddee51cdb61480e120dab0b16",
        136478119,
        True,
    ),
}
CUSTOM = "custom"
DATASET_NAMES = (*REGISTRY, CUSTOM)


def user_data_dir() -> Path:
    """The per-user data directory, where `tsvq data download` puts files by default."""
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(Path.home(), ".local", "share")
    return Path(base) / "tsvq"


def default_data_dir() -> Path:
    """`$TSVQ_DATA_DIR` if set, else the per-user data directory."""
    env = os.environ.get(DATA_DIR_ENV)
    return Path(env) if env else user_data_dir()


def data_dirs(root_path: str | None) -> list[Path]:
    """Where a registered dataset is looked for, in order (then the embedded copy).

    An explicit `--root_path` is the only place: a directory the user names that lacks the
    file is an error, never a silent switch to other data.
    """
    if root_path:
        return [Path(root_path)]
    dirs = []
    env = os.environ.get(DATA_DIR_ENV)
    if env:
        dirs.append(Path(env))
    dirs.append(user_data_dir())
    return list(dict.fromkeys(dirs))


def resolve_path(dset: str, root_path: str | None, data_path: str | None) -> Path:
    """The CSV file of a dataset: one rule for every command (docs/robustness.md, round 3).

    `custom`: an absolute `data_path` is that file, and a `root_path` beside it is refused (it
    would have no effect); a relative one lies under `root_path` when one is given, else under
    the working folder, never in one place or the other depending on what exists. A registered
    dataset: `root_path`/its registry file when `root_path` is given (the only place looked);
    else the first of `$TSVQ_DATA_DIR` and the per-user data directory that holds its file,
    else the copy shipped inside the package (the ETT family); with none, the first place
    looked, for the reader to report. A `data_path` with a registered dataset is refused.
    """
    if dset == CUSTOM:
        if not data_path:
            raise TsvqError(
                "--dset custom needs --data_path FILE (a CSV or Parquet file: a date column, "
                "if any, then numbers)"
            )
        path = Path(data_path)
        if path.is_absolute() and root_path:
            raise TsvqError(
                f"--root_path has no effect with the absolute data path {path} (a relative "
                "--data_path is read under --root_path); leave one of them out"
            )
        return Path(root_path) / path if root_path else path
    if dset not in REGISTRY:
        raise TsvqError(f"unknown dataset {dset!r}; allowed: {', '.join(DATASET_NAMES)}")
    if data_path:
        raise TsvqError(
            f"--data_path is for --dset custom; {dset} is found by name (under --root_path, "
            f"else ${DATA_DIR_ENV}, else the per-user data directory), got {data_path!r}"
        )
    file = REGISTRY[dset].file
    candidates = [d / file for d in data_dirs(root_path)]
    found = next((p for p in candidates if p.exists()), None)
    if found or root_path:
        return found or candidates[0]
    return embedded.path_of(file) or candidates[0]


def locate(
    dset: str,
    root_path: str | None,
    data_path: str | None,
    recorded_path: str | None = None,
    recorded_sha256: str | None = None,
) -> tuple[Path, str | None]:
    """The file a command reads for a trained model's dataset `dset`, and the sha256 it must
    have (None: any).

    A path typed on the command line (`root_path`, `data_path`) is resolved by `resolve_path`'s
    rule and read as it is now. With neither, a `custom` dataset is the file the run recorded
    (its resolved path), a registered one is found by name; either must hold the bytes the
    run recorded (`recorded_sha256`), so a file changed since training is said, not read.
    """
    if root_path is not None or data_path is not None:
        if dset == CUSTOM and data_path is None:
            data_path = recorded_path  # absolute: with root_path, refused as having no effect
        return resolve_path(dset, root_path, data_path), None
    if dset == CUSTOM:
        if not recorded_path:
            raise TsvqError(
                "this tokenizer was trained on a file of its own (custom data) and its source "
                "records no path (an exported folder or Hub repo keeps none): give --data_path "
                "FILE"
            )
        return Path(recorded_path), recorded_sha256
    return resolve_path(dset, None, None), recorded_sha256


def data_stem(data_path: str) -> str:
    """What names a custom run after its file: the file name without its `.gz` and `.csv`
    (`sensors.csv.gz` -> `sensors`), or its `.parquet` / `.pq`."""
    name = Path(data_path).name
    for suffix in (".gz", ".csv", ".parquet", ".pq"):
        name = name.removesuffix(suffix)
    return name


def _ships(dset: str) -> bool:
    return embedded.path_of(REGISTRY[dset].file) is not None


def missing_hint(dset: str) -> str:
    """What a 'not found' line adds for a registered dataset: how to get its file."""
    if dset not in REGISTRY:
        return ""
    own = "; without --root_path tsvq reads its own copy" if _ships(dset) else ""
    return (
        f"; get it with `tsvq data download {dset}` or point --root_path at a data directory{own}"
    )


def split_rule(dset: str) -> SplitRule:
    """The split rule of a registered dataset; `custom` uses the 70/10/20 ratio rule."""
    return REGISTRY[dset].split if dset in REGISTRY else RATIO
