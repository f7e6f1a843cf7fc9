"""The ETT family shipped inside the package: gzip-compressed, verified on every read.

`tsvq/datafiles/ETT-small/*.csv.gz` are the upstream CSV files compressed with `gzip -9 -n`
(license and attribution in `NOTICE.md` and `LICENSE` beside them). A data directory or a
download still wins when it holds the file; these are the last place a dataset is looked for.
"""

from __future__ import annotations

import gzip
import hashlib
import zlib
from pathlib import Path

from tsvq.errors import TsvqError

FOLDER = Path(__file__).resolve().parents[1] / "datafiles"


def path_of(file: str) -> Path | None:
    """The embedded copy of a registry file name (`ETT-small/ETTh1.csv`), if one ships."""
    path = FOLDER / (file + ".gz")
    return path if path.is_file() else None


def is_embedded(path: Path) -> bool:
    """Whether `path` is one of the files shipped inside the package."""
    try:
        return path.resolve().is_relative_to(FOLDER)
    except OSError:
        return False


def verified_bytes(path: Path, sha256: str, size: int) -> bytes:
    """The decompressed content of embedded file `path`, refused unless it has `sha256`.

    Damage (a truncated or edited file, a bad install) gives one line saying what to do.
    """
    try:
        with gzip.open(path, "rb") as fh:
            data = fh.read(size + 1)  # bounded: never inflate more than the registry's size
    except (OSError, EOFError, zlib.error) as exc:
        raise TsvqError(
            f"embedded data file {path} is damaged ({exc}); "
            "reinstall tsvq, or put the CSV in a data directory"
        ) from None
    digest = hashlib.sha256(data).hexdigest()
    if len(data) != size or digest != sha256:
        raise TsvqError(
            f"embedded data file {path} does not match its checksum (sha256 {digest}, "
            f"{len(data):,} bytes; expected {sha256}, {size:,} bytes); reinstall tsvq, or put "
            "the CSV in a data directory"
        )
    return data
