"""Scale: training speed and peak memory as the data grows, up to traffic-sized sets.

    PYTHONPATH=src python benchmarks/scale.py [--steps 50] [--sizes 7x17420,321x26304,862x17544]
        [--baseline_src ../main/src]

For each size (channels x rows) it writes a CSV of that shape in a temporary folder (a date
column, then smooth daily cycles with noise), then in fresh processes
  1. reads it with tsvq's CSV reader alone, and
  2. trains `tsvq train --dset custom --n_epochs 2 --max_steps_per_epoch STEPS` on it,
and prints each process's wall time and peak resident memory (the kernel's VmHWM), the
training epoch's seconds and the series per second it trained and validated (epoch 2, warm).
Training works on zero-copy windows of one float32 array, so the epoch's cost should not grow
with the data; what grows is the file to read.
"""

from __future__ import annotations

import argparse
import csv
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
SIZES = "7x17420,100x20000,321x26304,862x17544"  # ETTh1, -, electricity, traffic shapes
BATCH = 64
CONTEXT = 512


def write_csv(path: Path, channels: int, rows: int, seed: int = 0) -> None:
    """An Autoformer-layout CSV: `date`, then `channels` columns, the last named OT."""
    rng = np.random.default_rng(seed)
    dates = pd.date_range("2016-07-01", periods=rows, freq="h").strftime("%Y-%m-%d %H:%M:%S")
    phase = rng.uniform(0, 2 * np.pi, channels)
    names = [f"c{j}" for j in range(channels - 1)] + ["OT"]
    with open(path, "w") as f:
        f.write("date," + ",".join(names) + "\n")
        for a in range(0, rows, 2000):
            b = min(rows, a + 2000)
            t = np.arange(a, b)[:, None]
            noise = 0.1 * rng.standard_normal((b - a, channels))
            block = np.sin(2 * np.pi * t / 24 + phase) + noise
            text = np.char.mod("%.4f", block)
            f.write(
                "\n".join(
                    d + "," + ",".join(r) for d, r in zip(dates[a:b], text.tolist(), strict=True)
                )
                + "\n"
            )


# Peak resident memory as the kernel counts it for this process alone (VmHWM, reset by exec):
# the child's ru_maxrss from wait4 would start from this parent's own size at fork.
PEAK = (
    "import atexit, sys\n"
    "atexit.register(lambda: print('VmHWM_kB', open('/proc/self/status').read()"
    ".split('VmHWM:')[1].split()[0], file=sys.stderr, flush=True))\n"
)
READ = PEAK + (
    "from pathlib import Path\nfrom tsvq.data.table import read_table\n"
    "read_table(Path(sys.argv[1]))\n"
)
TRAIN = PEAK + (
    "import runpy\nsys.argv[0] = 'tsvq'\n"
    "runpy.run_module('tsvq', run_name='__main__', alter_sys=True)\n"
)


def run(cmd: list[str], src: Path) -> tuple[float, float, str]:
    """Run a process on the tsvq code in `src`: wall seconds, peak resident MB, output."""
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(src), *filter(None, [os.environ.get("PYTHONPATH")])]),
    }
    t = time.perf_counter()
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, text=True)
    seconds = time.perf_counter() - t
    if proc.returncode:
        raise SystemExit(f"{' '.join(cmd)} failed with status {proc.returncode}:\n{proc.stdout}")
    peak = [line for line in proc.stdout.splitlines() if line.startswith("VmHWM_kB")]
    return seconds, int(peak[-1].split()[1]) / 1024, proc.stdout


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", default=SIZES, help="comma-separated CHANNELSxROWS")
    p.add_argument("--steps", type=int, default=50, help="--max_steps_per_epoch")
    p.add_argument("--threads", type=int, default=None, help="tsvq train --threads")
    p.add_argument(
        "--baseline_src",
        type=Path,
        default=None,
        help="another checkout's src/ folder, run side by side (e.g. the main branch)",
    )
    args = p.parse_args()
    py = sys.executable
    sources = {"this": ROOT / "src"}
    if args.baseline_src:
        sources["baseline"] = args.baseline_src.resolve()
    print(
        f"--max_steps_per_epoch {args.steps}, batch {BATCH}, context {CONTEXT}; peak RSS is "
        "the whole process (Python, torch and the data), VmHWM"
    )
    print(
        f"{'code':>9}{'channels x rows':>16}{'CSV MB':>8}{'series':>12}{'read s':>8}"
        f"{'read MB':>9}{'train s':>9}{'epoch s':>9}{'series/s':>10}{'train MB':>10}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        for size in args.sizes.split(","):
            channels, rows = map(int, size.lower().split("x"))
            path = Path(tmp) / f"gen_{channels}x{rows}.csv"
            write_csv(path, channels, rows)
            rows_out = {}
            for label, src in sources.items():
                read_s, read_mb, _ = run([py, "-c", READ, str(path)], src)
                save = Path(tmp) / f"runs_{label}"
                train_s, train_mb, _ = run(
                    [
                        py,
                        "-c",
                        TRAIN,
                        "train",
                        "--dset",
                        "custom",
                        "--data_path",
                        str(path),
                        "--n_epochs",
                        "2",
                        "--max_steps_per_epoch",
                        str(args.steps),
                        "--save_path",
                        str(save),
                        *(["--threads", str(args.threads)] if args.threads else []),
                    ],
                    src,
                )
                history = next(
                    save.glob("custom/**/*_history.csv")
                )  # custom/{stem}/ since issue 21
                with open(history) as f:
                    last = list(csv.DictReader(f))[-1]
                n_train = (int(rows * 0.7) - CONTEXT + 1) * channels
                n_val = (rows - int(rows * 0.2) - int(rows * 0.7) + 1) * channels
                limit = args.steps * BATCH
                per_epoch = min(n_train, limit) + min(n_val, limit)
                epoch_s = float(last["seconds"])
                rows_out[label] = (read_s, read_mb, train_mb)
                print(
                    f"{label:>9}{size:>16}{path.stat().st_size / 1e6:8.0f}{n_train:12,}"
                    f"{read_s:8.1f}{read_mb:9.0f}{train_s:9.1f}{epoch_s:9.2f}"
                    f"{per_epoch / epoch_s:10.0f}{train_mb:10.0f}"
                )
                history.unlink()
            if "baseline" in rows_out:
                (a, b, c), (x, y, z) = rows_out["baseline"], rows_out["this"]
                print(
                    f"{'ratio':>9}{size:>16}{'':>20}{a / x:7.1f}x{b / y:8.1f}x{'':>28}"
                    f"{c / z:9.1f}x  (baseline / this)"
                )
            path.unlink()
    print(
        "series: training series (windows x channels); series/s: training and validation "
        "series of epoch 2 over its seconds; read: tsvq's CSV reader alone, in its own process"
    )


if __name__ == "__main__":
    main()
