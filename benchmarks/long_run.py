"""A 100-epoch run's whole-process time, tsvq against the original script, side by side.

    PYTHONPATH=src python benchmarks/long_run.py [--epochs 3] [--rounds 2]
    PYTHONPATH=src python benchmarks/train_speed.py --whole 3      # the same, after the steps

Each round starts, as separate processes on ETTh1's first channel at the specification's
defaults, the original script (`original_trainer.py`, fp32 on a CPU), `tsvq train --compile 0`
and `tsvq train --compile 1`, for `--epochs` epochs each (bounded: 100 take hours here). The
first compiled process of the script gets a fresh, empty compiler cache (a first run on a
machine: a cold compile), later rounds the cache that one filled (a second run of the shape).
A 100-epoch run is then estimated from what was measured, and said so:

    estimate = whole-process time of the bounded run + (100 - epochs) x steady epoch

where the steady epoch is the median time between consecutive epoch lines after the first
(training, validation and the checkpoints). The compile cost is the compiled process's first
epoch less the eager one's in the same round. Both sides are assumed to run all 100 epochs (no
early stop). `auto` at 100 epochs: the decision tsvq's rule makes from these figures.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from tsvq.train.compiled import Figures, decide

HERE = Path(__file__).resolve().parent
FULL = 100  # the specification's default --n_epochs


@dataclass
class Timed:
    """One process: its whole wall time and when each of its epoch lines appeared (seconds)."""

    wall: float
    epochs: list[float]

    def steady_epoch(self) -> float:
        gaps = [b - a for a, b in zip(self.epochs, self.epochs[1:], strict=False)]
        return statistics.median(gaps)

    def estimate(self, n: int = FULL) -> float:
        return self.wall + (n - len(self.epochs)) * self.steady_epoch()


def timed(cmd: list[str], env: dict[str, str]) -> Timed:
    """Run `cmd`, timing the whole process and each 'Epoch' line as it is printed."""
    t = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, text=True, bufsize=1)
    assert proc.stdout is not None
    epochs = [time.perf_counter() - t for line in proc.stdout if line.startswith("Epoch")]
    if proc.wait():
        raise SystemExit(f"{' '.join(cmd)} failed with status {proc.returncode}")
    return Timed(time.perf_counter() - t, epochs)


def commands(args: argparse.Namespace, save: Path) -> dict[str, list[str]]:
    common = ["--dset", args.dset, "--root_path", args.root_path, "--n_epochs", str(args.epochs)]
    common += ["--context_points", str(args.context_points)]
    tsvq = [sys.executable, "-m", "tsvq", "train", "--channel", "0", *common]
    out = {
        "original": [
            sys.executable,
            str(HERE / "original_trainer.py"),
            *common,
            "--save_path",
            str(save / "original"),
        ],
        "tsvq eager": [*tsvq, "--compile", "0", "--save_path", str(save / "eager")],
    }
    if not args.no_compiled:
        out["tsvq compiled"] = [*tsvq, "--compile", "1", "--save_path", str(save / "compiled")]
    return out


def whole(args: argparse.Namespace) -> None:
    """Rounds of the three processes, then the 100-epoch estimates and their ratios."""
    env = dict(os.environ)
    src = [str(HERE.parent / "src"), env.get("PYTHONPATH")]
    env["PYTHONPATH"] = os.pathsep.join(filter(None, src))
    env["PYTHONUNBUFFERED"] = "1"  # each epoch line as it is printed
    runs: dict[str, list[Timed]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        env["TORCHINDUCTOR_CACHE_DIR"] = str(Path(tmp) / "compiler-cache")  # empty: cold first
        for i in range(args.rounds):
            for name, cmd in commands(args, Path(tmp) / f"round{i}").items():
                runs.setdefault(name, []).append(timed(cmd, env))
                got = runs[name][-1]
                print(
                    f"round {i + 1}: {name:14} {got.wall:7.1f} s for {len(got.epochs)} epochs, "
                    f"steady epoch {got.steady_epoch():.2f} s",
                    flush=True,
                )
    report(runs, args.epochs)


def report(runs: dict[str, list[Timed]], epochs: int) -> None:
    print(f"\nwhole process, {FULL} epochs estimated from {epochs} measured (see the docstring):")
    base = [r.estimate() for r in runs["original"]]
    for name, timings in runs.items():
        est = [r.estimate() for r in timings]
        ratios = [b / e for b, e in zip(base, est, strict=True)]
        print(
            f"  {name:14} "
            + ", ".join(f"{e:7.0f} s" for e in est)
            + "   original / this: "
            + ", ".join(f"{x:.2f}x" for x in ratios)
        )
    if "tsvq compiled" not in runs:
        return
    eager, comp = runs["tsvq eager"], runs["tsvq compiled"]
    costs = [c.epochs[0] - e.epochs[0] for c, e in zip(comp, eager, strict=True)]
    print(
        "  compile cost (compiled first epoch less eager's): "
        + ", ".join(f"{c:.0f} s" for c in costs)
        + " (round 1 with an empty compiler cache, later rounds with its artifacts)"
    )
    saving = 1 - statistics.median(c.steady_epoch() for c in comp) / statistics.median(
        e.steady_epoch() for e in eager
    )
    epoch_s = statistics.median(e.steady_epoch() for e in eager)
    for label, cost in (("first run", costs[0]), ("later runs", costs[-1])):
        yes, words = decide(FULL - 1, epoch_s, Figures(max(cost, 0.0), saving))
        print(
            f"  --compile auto at {FULL} epochs, {label}: {'compiles' if yes else 'eager'} "
            f"(in epochs: {words})"
        )


def add_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--epochs", type=int, default=3, help="epochs each process runs (>= 2)")
    p.add_argument("--rounds", type=int, default=2, help="rounds of the three processes")
    p.add_argument("--context_points", type=int, default=512)
    p.add_argument("--dset", default="etth1", help="first channel of this dataset")
    p.add_argument("--no_compiled", action="store_true", help="leave tsvq --compile 1 out")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--root_path", default=os.environ.get("TSVQ_DATA_DIR", "data"))
    add_args(p)
    args = p.parse_args()
    if args.epochs < 2:
        p.error("--epochs: at least 2 (a steady epoch is the time between two epoch lines)")
    whole(args)


if __name__ == "__main__":
    main()
