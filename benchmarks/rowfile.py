"""The benchmarks' rows: kept in a JSON lines file, printed as one table.

quality.py, rate_distortion.py and time_to_quality.py measure rows one run at a time and
append each to `--results`, so runs made at different times (or in separate processes) print
as one table; this module is that shared part: the two flags, keeping a row, reading the file
back, sorting, the gain over the baseline and the table's layout.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterable
from pathlib import Path


def add_args(p: argparse.ArgumentParser) -> None:
    """`--results FILE` (rows appended to it) and `--table` (print the file's table only)."""
    p.add_argument("--results", default=None, help="JSON lines file the rows are appended to")
    p.add_argument("--table", action="store_true", help="only print the table of --results")


def results_of(args: argparse.Namespace) -> Path | None:
    """The `--results` file, or None without one."""
    return Path(args.results) if args.results else None


def keep(row: dict, rows: list[dict], results: Path | None, hide: tuple[str, ...] = ()) -> None:
    """Print `row` as one JSON line (less the keys in `hide`), add it to `rows` and append it
    whole to `results`."""
    print(json.dumps({k: v for k, v in row.items() if k not in hide}), flush=True)
    rows.append(row)
    if results:
        with results.open("a") as f:
            f.write(json.dumps(row) + "\n")


def gathered(rows: list[dict], results: Path | None) -> list[dict]:
    """Every row of `results` when the file exists (this run's are in it), else `rows`."""
    if results and results.exists():
        return [json.loads(line) for line in results.read_text().splitlines() if line.strip()]
    return rows


def sorted_by(rows: Iterable[dict], key: tuple[str, ...]) -> list[dict]:
    """Rows in the order of their `key` fields, compared as text."""
    return sorted(rows, key=lambda r: tuple(str(r[k]) for k in key))


def gain(mse: float, baseline: float) -> float:
    """How far `mse` is below `baseline`, in percent (negative: above it)."""
    return 100 * (1 - mse / baseline)


def layout(head: str, body: Iterable[str], note: str) -> str:
    """A table: its header line, one line per row, and the note that says what it shows."""
    return "\n".join([head, *body, note])
