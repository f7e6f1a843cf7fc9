"""What each dependency costs: installed size (with the packages only it pulls in) and import time.

    python benchmarks/deps.py [--repeats 3]

Sizes come from the installed distributions' file lists (importlib.metadata); a requirement is
counted for a package only if no other top-level dependency of tsvq needs it too. Import times
are the median wall time of a fresh interpreter importing the module, minus a bare interpreter's,
measured interleaved in this one process; on a busy machine read them as ratios.
"""

from __future__ import annotations

import argparse
import contextlib
import re
import statistics
import subprocess
import sys
import time
from importlib import metadata

# distribution -> the import a user pays for when tsvq uses it
PACKAGES = {
    "torch": "import torch",
    "numpy": "import numpy",
    "pandas": "import pandas",
    "tqdm": "import tqdm.auto",
    "safetensors": "import safetensors",
    "huggingface_hub": "from huggingface_hub import PyTorchModelHubMixin",
    "matplotlib": "import matplotlib.pyplot",
    "tensorboard": "import tensorboard.summary",
}
TSVQ = {"import tsvq": "import tsvq", "tsvq --help": "from tsvq.cli import main; main(['--help'])"}


def _name(req: str) -> str:
    return re.split(r"[ ;<>=!~\[(]", req, maxsplit=1)[0].lower().replace("_", "-")


def requirements(dist: str, seen: set[str] | None = None) -> set[str]:
    """`dist` and everything it needs (not extras), by normalised name."""
    seen = set() if seen is None else seen
    key = _name(dist)
    if key in seen:
        return seen
    try:
        reqs = metadata.requires(dist) or []
    except metadata.PackageNotFoundError:
        return seen
    seen.add(key)
    for r in reqs:
        if "extra ==" not in r:
            requirements(_name(r), seen)
    return seen


def size_mb(dist: str) -> float:
    try:
        files = metadata.files(dist) or []
    except metadata.PackageNotFoundError:
        return 0.0
    total = 0
    for f in files:
        with contextlib.suppress(OSError):
            total += f.locate().stat().st_size
    return total / 1e6


def import_seconds(code: str) -> float:
    t = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)
    return time.perf_counter() - t


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=3)
    args = p.parse_args()
    closure = {d: requirements(d) for d in PACKAGES}
    codes = {**{d: c for d, c in PACKAGES.items() if closure[d]}, **TSVQ}
    times: dict[str, list[float]] = {k: [] for k in ("bare", *codes)}
    for _ in range(args.repeats):  # interleaved, so load changes hit every row alike
        times["bare"].append(import_seconds("pass"))
        for k, code in codes.items():
            times[k].append(import_seconds(code))
    bare = statistics.median(times["bare"])
    print(f"{'package':<18}{'own MB':>8}{'with own deps MB':>18}{'import s':>10}  only it needs")
    for dist in PACKAGES:
        if not closure[dist]:
            print(f"{dist:<18}{'not installed':>36}")
            continue
        others = set().union(*(closure[d] for d in PACKAGES if d != dist))
        own = sorted(closure[dist] - others - {_name(dist)})
        total = size_mb(dist) + sum(size_mb(d) for d in own)
        seconds = statistics.median(times[dist]) - bare
        print(f"{dist:<18}{size_mb(dist):8.1f}{total:18.1f}{seconds:10.2f}  {', '.join(own)}")
    for k in TSVQ:
        print(f"{k:<18}{'':>26}{statistics.median(times[k]) - bare:10.2f}")
    print(f"(bare interpreter: {bare:.2f} s, subtracted; medians of {args.repeats})")


if __name__ == "__main__":
    main()
