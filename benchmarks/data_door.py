"""What the data door costs every read: `open_source`'s checks against pandas reading the file.

    python benchmarks/data_door.py [--rows 200000] [--cols 21] [--repeats 3]

A CSV of the given shape (a date column, then numbers, like weather.csv) is written to a
temporary folder; then, interleaved and repeated, the median wall time of: the door alone
(`open_source`: sha256, the text sniff, the header and the field count of every row), the whole
table read (`read_table`: the door, then pandas' float parser into float32), the streaming
reader's pass (`scan`: the door, then the date column), and the baseline, pandas reading the
same file into float32 without any check. Ratios are against the baseline, measured in this one
process, so a busy machine moves all of them alike.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from tsvq.data.source import open_source
from tsvq.data.stream import scan
from tsvq.data.table import read_table


def write_csv(path: Path, rows: int, cols: int, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(rng.normal(size=(rows, cols)).astype(np.float32))
    frame.columns = [f"c{j}" for j in range(cols - 1)] + ["OT"]
    frame.insert(0, "date", pd.date_range("2020-01-01", periods=rows, freq="10min").astype(str))
    frame.to_csv(path, index=False, float_format="%.4f")


def baseline(path: Path) -> None:
    header = pd.read_csv(path, nrows=0).columns
    pd.read_csv(path, dtype={header[0]: str, **{c: np.float32 for c in header[1:]}})


def timed(fn: Callable[[], object], repeats: int) -> list[float]:
    out = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=200_000)
    ap.add_argument("--cols", type=int, default=21, help="value columns")
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "series.csv"
        write_csv(path, args.rows, args.cols)
        size = path.stat().st_size
        runs: dict[str, Callable[[], object]] = {
            "pandas (baseline)": lambda: baseline(path),
            "door: open_source": lambda: open_source(path),
            "read_table": lambda: read_table(path),
            "scan (streaming)": lambda: scan(path),
        }
        times: dict[str, list[float]] = {name: [] for name in runs}
        for _ in range(args.repeats):  # interleaved: a busy machine slows every one alike
            for name, fn in runs.items():
                times[name] += timed(fn, 1)
    base = statistics.median(times["pandas (baseline)"])
    print(f"file: {args.rows:,} rows x {args.cols} value columns, {size / 2**20:,.1f} MiB")
    print(f"{'':<20}{'seconds':>10}{'ratio':>9}")
    for name, ts in times.items():
        median = statistics.median(ts)
        print(f"{name:<20}{median:>10.3f}{median / base:>9.2f}")
    print(f"(medians of {args.repeats}; ratio: against pandas reading the file unchecked)")


if __name__ == "__main__":
    main()
