"""Inference at the model's speed: `tsvq eval` and encoding against the bare model, side by side.

    PYTHONPATH=src python benchmarks/inference_speed.py [--windows 1440] [--threads 1]
        [--baseline_src ../main/src] [--checkpoint RUN.pth] [--rounds 1]

On ETTm1's test split (its first --windows windows; all 11,521 by default), each row in a
process of its own, so page faults and peak memory are that row's alone:

- bare model: `VQVAE` forward (encoder, quantizer, decoder) and `VQVAE.encode` over the
  same windows, scaled and in passes of 64 series, freed memory kept: the model's speed;
- training: tsvq's training step (64 series a batch, fp32) on ETTm1, for its page faults;
- `evaluate` (what `tsvq eval` runs) and `Tokenizer.encode` on those windows, with this
  checkout's code and, given --baseline_src, with that source tree's (today's code).

It prints windows/s and the ratio to the bare model's (forward for eval, encode for encode),
minor page faults per series (a series is one channel of one window: what a training batch
counts), the process's peak resident memory (VmHWM: interpreter, torch and the data
included), and whether the results equal the baseline's to the bit. Without --checkpoint the
model is untrained (seed 0) at the default shape: speed does not depend on the weights.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

HERE = Path(__file__).resolve()
SERIES = 64  # series per bare pass and per training batch
WARMUP_STEPS, TRAIN_STEPS = 3, 10


def faults() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


def measured(fn: Callable[[], object], n_series: int) -> tuple[dict[str, float], object]:
    """Seconds and minor page faults of one call of `fn` over `n_series` series, and what it
    returned."""
    f0, t0 = faults(), time.perf_counter()
    result = fn()
    seconds = time.perf_counter() - t0
    return {"seconds": seconds, "faults": faults() - f0, "series": n_series}, result


def loaded(root: str, checkpoint: str | None, windows: int | None):  # noqa: ANN201
    """The tokenizer and ETTm1's data (test split cut to `windows` windows), as eval has them."""
    from tsvq import Tokenizer
    from tsvq.data.record import DataRecord
    from tsvq.data.windows import DataSpec, load
    from tsvq.model.vqvae import VQVAE, ModelConfig
    from tsvq.report.evaluate import load_split_data

    if checkpoint:
        tok = Tokenizer.from_pretrained(checkpoint)
        data = load_split_data(tok)
    else:
        data = load(DataSpec("ettm1", root, None, 512))
        torch.manual_seed(0)
        record = DataRecord(data.spec, data.scaler, tuple(data.columns), data.n_channels)
        tok = Tokenizer(VQVAE(ModelConfig()), record)
    if windows is not None:
        rows = data.splits["test"][: windows + tok.cfg.context_points - 1]
        data = dataclasses.replace(data, splits={**data.splits, "test": rows})
    return tok, data


def child(kind: str, args: argparse.Namespace) -> dict[str, object]:
    """One row's measurement in this process (`--child KIND`)."""
    torch.set_num_threads(args.threads)
    tok, data = loaded(args.root_path, args.checkpoint, args.windows)
    views = data.windows("test")  # [n, C, T], scaled
    n, c, t = views.shape
    if kind == "eval":
        from tsvq.report.evaluate import evaluate

        row, result = measured(lambda: evaluate(tok, data, "test"), n * c)
        row["digest"] = json.dumps(result.to_dict(), sort_keys=True)  # type: ignore[attr-defined]
    elif kind == "encode":
        rows = data.splits["test"] * data.scaler.scale + data.scaler.shift  # original units
        x = np.lib.stride_tricks.sliding_window_view(rows, t, axis=0).swapaxes(1, 2)
        row, enc = measured(lambda: tok.encode(x), n * c)  # x: [n, T, C], a view
        digest = hashlib.sha256()
        for a in (enc.codes, enc.mean, enc.std):  # type: ignore[attr-defined]
            digest.update(np.ascontiguousarray(a).tobytes())
        row["digest"] = digest.hexdigest()
    else:
        row = reference(tok, data, views)
    row["windows"] = n
    row["peak_mb"] = int(Path("/proc/self/status").read_text().split("VmHWM:")[1].split()[0]) / 1024
    return row


def reference(tok, data, views: np.ndarray) -> dict[str, object]:  # noqa: ANN001
    """The bare model's forward and encode over `views`, and training's page faults."""
    from tsvq.data.windows import epoch_order, series_batches
    from tsvq.model.vqvae import VQVAE, ModelConfig
    from tsvq.runtime.cpu import keep_freed_memory
    from tsvq.train.loop import TrainConfig, make_optimizer, make_step, run_epoch

    keep_freed_memory()  # training's setting: the model at its own speed
    n, c, t = views.shape
    series = torch.from_numpy(np.ascontiguousarray(views)).reshape(n * c, t)
    model = tok.model

    def bare(fn: Callable[[torch.Tensor], object]) -> Callable[[], None]:
        @torch.inference_mode()
        def run() -> None:
            for part in series.split(SERIES):
                fn(part)

        return run

    row: dict[str, object] = {}
    for name, fn in (("forward", model), ("encode", model.encode)):
        with torch.inference_mode():
            fn(series[:SERIES])  # warm-up
        row[name] = measured(bare(fn), n * c)[0]
    torch.manual_seed(0)
    core, device = VQVAE(ModelConfig()), torch.device("cpu")
    optimizer = make_optimizer(core, TrainConfig(), device)
    step = make_step(core, optimizer, torch.amp.GradScaler("cpu", enabled=False), 1.0)
    order = epoch_order(data.n_windows("train"), 2021, 1)
    batches = series_batches(data, "train", SERIES, order, WARMUP_STEPS + TRAIN_STEPS)
    core.train()
    first = lambda: run_epoch(core, core, batches, WARMUP_STEPS, device, None, step)  # noqa: E731
    rest = lambda: run_epoch(core, core, batches, TRAIN_STEPS, device, None, step)  # noqa: E731
    cold, _ = measured(first, WARMUP_STEPS * SERIES)
    row["train"] = measured(rest, TRAIN_STEPS * SERIES)[0]
    row["train_run"] = {k: cold[k] + row["train"][k] for k in ("faults", "series")}  # type: ignore[index]
    return row


def spawn(kind: str, src: Path, args: argparse.Namespace) -> dict:
    """`--child kind` in a fresh interpreter importing tsvq from `src`."""
    argv = [sys.executable, str(HERE), "--child", kind, "--threads", str(args.threads)]
    argv += ["--root_path", args.root_path]
    argv += ["--windows", str(args.windows)] if args.windows is not None else []
    argv += ["--checkpoint", args.checkpoint] if args.checkpoint else []
    path = os.pathsep.join([str(src), *filter(None, [os.environ.get("PYTHONPATH")])])
    proc = subprocess.run(
        argv, capture_output=True, text=True, env={**os.environ, "PYTHONPATH": path}
    )
    if proc.returncode:
        raise SystemExit(f"{kind} with {src} failed:\n{proc.stderr}")
    return json.loads(proc.stdout.splitlines()[-1])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--root_path", default=os.environ.get("TSVQ_DATA_DIR", "data"))
    p.add_argument("--checkpoint", default=None, help="a trained ETTm1 model (default: none)")
    p.add_argument("--windows", type=int, default=None, help="first N test windows (all)")
    p.add_argument("--threads", type=int, default=1, help="torch threads in every row")
    p.add_argument("--baseline_src", type=Path, default=None, help="today's src/ to compare")
    p.add_argument("--rounds", type=int, default=1, help="repeat every row; medians")
    p.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args)))
        return
    sources = {"this checkout": HERE.parents[1] / "src"}
    if args.baseline_src:
        sources["baseline"] = args.baseline_src.resolve()
    runs: dict[str, list[dict]] = {}
    for _ in range(args.rounds):  # interleaved, so a machine whose load drifts hits all alike
        runs.setdefault("reference", []).append(spawn("reference", sources["this checkout"], args))
        for kind in ("eval", "encode"):
            for name, src in sources.items():
                runs.setdefault(f"{kind}, {name}", []).append(spawn(kind, src, args))
    report(runs, args)


def report(runs: dict[str, list[dict]], args: argparse.Namespace) -> None:
    ref = runs["reference"]
    n = ref[0]["windows"]

    def med(rows: list[dict], key: str) -> float:
        return statistics.median(float(r[key]) for r in rows)

    def per_series(rows: list[dict]) -> float:
        return statistics.median(r["faults"] / r["series"] for r in rows)

    def rate(rows: list[dict]) -> float:
        return statistics.median(n / r["seconds"] for r in rows)

    print(
        f"ETTm1 test split: {n:,} windows x 7 channels x 512 steps; {args.threads} thread(s); "
        f"{'model ' + args.checkpoint if args.checkpoint else 'untrained model (seed 0)'}; "
        f"each row its own process; medians of {args.rounds} round(s)"
    )
    print(f"{'':34}{'windows/s':>10}{'x bare':>8}{'faults/series':>15}{'peak RSS MB':>13}")
    for key, label in (("train_run", "whole run"), ("train", "after 3 steps")):
        label = f"training, {TRAIN_STEPS + WARMUP_STEPS} steps: {label}"
        print(f"{label:34}{per_series([r[key] for r in ref]):>33.2f}")
    for kind, bare_name in (("eval", "forward"), ("encode", "encode")):
        bare = [r[bare_name] for r in ref]
        label = f"bare VQVAE.{bare_name} ({SERIES} series/pass)"
        print(f"{label:34}{rate(bare):>10.1f}{1:>8.2f}{per_series(bare):>15.2f}")
        for name in ("this checkout", "baseline"):
            rows = runs.get(f"{kind}, {name}")
            if rows is None:
                continue
            ratio = statistics.median(
                b["seconds"] / r["seconds"] for b, r in zip(bare, rows, strict=True)
            )
            label = f"{'tsvq eval' if kind == 'eval' else 'Tokenizer.encode'}, {name}"
            print(
                f"{label:34}{rate(rows):>10.1f}{ratio:>8.2f}"
                f"{per_series(rows):>15.2f}{med(rows, 'peak_mb'):>13.0f}"
            )
        if f"{kind}, baseline" in runs:
            same = all(
                a["digest"] == b["digest"]
                for a, b in zip(
                    runs[f"{kind}, this checkout"], runs[f"{kind}, baseline"], strict=True
                )
            )
            print(f"{kind} results equal to the baseline's, bit for bit: {'yes' if same else 'NO'}")
    print(
        "(targets: eval and encode >= 0.85 x bare; faults per series <= 2 x training's; "
        "peak RSS <= 600 MB)"
    )


if __name__ == "__main__":
    main()
