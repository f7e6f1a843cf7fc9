"""Training speed: tsvq's loop against the original formulation, side by side in one process.

    PYTHONPATH=src python benchmarks/train_speed.py [--steps 30] [--rounds 3]
    PYTHONPATH=src python benchmarks/train_speed.py --quality   # + test MSE after 3 epochs
    PYTHONPATH=src python benchmarks/train_speed.py --steps 2 --rounds 1 --matmul_size 256  # quick
    PYTHONPATH=src python benchmarks/train_speed.py --compiled   # + tsvq bf16 compiled
    PYTHONPATH=src python benchmarks/train_speed.py --whole 3    # + a 100-epoch run estimated

The issue's two "done when" ratios in one command: steady-state training windows/s of tsvq bf16
against the original formulation in fp32 (the table), and with `--whole N` the whole-process
time of a 100-epoch run of the original script against `tsvq train` (`long_run.py`: N epochs
each measured as separate processes, then scaled, and said so).

Both run on ETTh1's first channel at the specification's defaults (context 512, patch 16,
batch 64, lr 1e-4). The baseline is `original_trainer.py` beside this file: per-item DataLoader
windows, the TOTEM model with its one-hot codebook lookup and full distances, fp32 on a CPU (the
original used AMP on CUDA only). tsvq runs its own `run_epoch` / `make_step` on its own batches,
in fp32 (`--amp 0`) and with its AMP path (`--amp 1`: bf16 autocast where the CPU has it).

The configurations alternate round by round so a machine whose speed drifts (a shared one)
affects them alike; medians and per-round ratios are printed. Achieved GFLOP/s use the model's
own FLOPs (the convolutions as nn.Conv1d counts them, forward and backward, plus the distance
matrix product), counted once with torch's FlopCounterMode, against matrix-product peaks
measured here.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

sys.path.insert(0, str(Path(__file__).resolve().parent))
import long_run  # noqa: E402
from original_trainer import (  # noqa: E402
    BaselineVQVAE,
    baseline_step,
    window_loader,
)
from original_trainer import evaluate as baseline_evaluate  # noqa: E402

from tsvq import Tokenizer  # noqa: E402
from tsvq.cli import main as tsvq_main  # noqa: E402
from tsvq.data import windows as data_mod  # noqa: E402
from tsvq.model.vqvae import VQVAE, ModelConfig  # noqa: E402
from tsvq.report.evaluate import evaluate, load_split_data  # noqa: E402
from tsvq.runtime.cpu import keep_freed_memory  # noqa: E402
from tsvq.runtime.device import amp_dtype  # noqa: E402
from tsvq.train.compiled import Steps, shape_key  # noqa: E402
from tsvq.train.loop import TrainConfig, make_optimizer, make_step, run_epoch  # noqa: E402

DSET = "etth1"
BATCH = 64


def matmul_peak(dtype: torch.dtype, n: int = 2048, reps: int = 5) -> float:
    """Best GFLOP/s of an n x n matrix product in `dtype` on this machine."""
    a, b = torch.randn(n, n).to(dtype), torch.randn(n, n).to(dtype)
    torch.mm(a, b)
    best = 0.0
    for _ in range(reps):
        t = time.perf_counter()
        torch.mm(a, b)
        best = max(best, 2 * n**3 / (time.perf_counter() - t) / 1e9)
    return best


def model_flops_per_window(cfg: ModelConfig) -> float:
    """FLOPs of one training step per window: encoder and decoder forward and backward (no
    gradient for the input series), and the code-distance product (no backward)."""
    model = VQVAE(cfg)
    x = torch.randn(1, cfg.context_points)
    with FlopCounterMode(display=False) as counter:
        patches = x.view(-1, 1, cfg.patch_size)  # [n_patches, 1, patch_size], nn.Conv1d layout
        z = model.encoder(patches)
        flat = z.permute(0, 2, 1).reshape(-1, cfg.embedding_dim)
        model.quantizer.distances(flat.detach())
        model.decoder(z).sum().backward()
    return float(counter.get_total_flops())


class Runner:
    """One configuration: a setup, then `run(steps)` trains that many batches and times them."""

    def __init__(
        self, name: str, train_fn: Callable[[int], int], eval_fn: Callable[[int], int]
    ) -> None:
        self.name, self.train_fn, self.eval_fn = name, train_fn, eval_fn
        self.train_rates: list[float] = []
        self.eval_rates: list[float] = []

    def run(self, steps: int) -> None:
        for fn, rates in ((self.train_fn, self.train_rates), (self.eval_fn, self.eval_rates)):
            t = time.perf_counter()
            n = fn(steps)
            rates.append(n / (time.perf_counter() - t))


def tsvq_runner(data: data_mod.SeriesData, amp: bool, compiled: bool = False) -> Runner:
    torch.manual_seed(0)
    cfg = ModelConfig()
    device = torch.device("cpu")
    core = VQVAE(cfg)
    optimizer = make_optimizer(core, TrainConfig(), device)
    dtype = amp_dtype(device, amp)
    step = make_step(core, optimizer, torch.amp.GradScaler("cpu", enabled=False), 1.0)
    n_train = data.n_windows("train")
    epoch = [0]
    # --compile 1's path: the step compiled on its first whole batch (the warm-up round)
    key = shape_key(core, BATCH, dtype)
    forward = Steps(core, core, "1", BATCH, (0, 0), key, print) if compiled else None

    def train_steps(steps: int) -> int:
        epoch[0] += 1
        core.train()
        order = data_mod.epoch_order(n_train, 2021, epoch[0])
        batches = data_mod.series_batches(data, "train", BATCH, order, steps)
        return run_epoch(core, core, batches, steps, device, dtype, step, forward=forward).n_series

    def eval_steps(steps: int) -> int:
        core.eval()
        with torch.inference_mode():
            batches = data_mod.series_batches(data, "val", BATCH, None, steps)
            return run_epoch(core, core, batches, steps, device, dtype, forward=forward).n_series

    name = f"tsvq {'amp ' + str(dtype).removeprefix('torch.') if dtype else 'fp32'}"
    name += " compiled" if compiled else ""
    return Runner(name, train_steps, eval_steps)


def baseline_runner(path: str) -> Runner:
    torch.manual_seed(0)
    device = torch.device("cpu")
    model = BaselineVQVAE()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4, weight_decay=1e-4)
    loaders = {s: window_loader(path, DSET, s, 512, BATCH) for s in ("train", "val")}

    def train_steps(steps: int) -> int:
        n = 0
        for i, (batch_x, _) in enumerate(loaders["train"]):
            if i == steps:
                break
            baseline_step(model, optimizer, batch_x, device, amp=True)
            n += batch_x.shape[0]
        return n

    def eval_steps(steps: int) -> int:
        subset = torch.utils.data.Subset(loaders["val"].dataset, range(steps * BATCH))
        baseline_evaluate(
            model, torch.utils.data.DataLoader(subset, batch_size=BATCH), device, True
        )
        return len(subset)

    return Runner("baseline fp32", train_steps, eval_steps)


def median_ratio(a: list[float], b: list[float]) -> float:
    return statistics.median(x / y for x, y in zip(a, b, strict=True))


def speed(args: argparse.Namespace, data: data_mod.SeriesData, path: str) -> None:
    flops = model_flops_per_window(ModelConfig())
    peaks = {
        "fp32": matmul_peak(torch.float32, args.matmul_size),
        "bf16": matmul_peak(torch.bfloat16, args.matmul_size),
    }
    print(
        f"threads {torch.get_num_threads()}; glibc malloc "
        f"{'as it is' if args.default_malloc else 'keeping freed memory (both sides)'}"
    )
    print(
        f"model FLOPs per window per training step "
        f"{flops / 1e6:.1f} M; matmul peak fp32 {peaks['fp32']:.0f} GFLOP/s, "
        f"bf16 {peaks['bf16']:.0f} GFLOP/s"
    )
    runners = [baseline_runner(path), tsvq_runner(data, amp=False), tsvq_runner(data, amp=True)]
    if args.compiled:
        runners.append(tsvq_runner(data, amp=True, compiled=True))
    for r in runners:  # warm-up: allocator, oneDNN kernels, tsvq's k-means codebook start
        r.run(3)
        r.train_rates.clear()
        r.eval_rates.clear()
    for i in range(args.rounds):
        for r in runners:
            r.run(args.steps)
        print(
            f"round {i + 1}: "
            + ", ".join(f"{r.name} {r.train_rates[-1]:.0f}" for r in runners)
            + " train windows/s"
        )
    base = runners[0]
    print(
        f"\n{'':27}{'train win/s':>12}{'x baseline':>11}{'GFLOP/s':>9}{'of peak':>9}"
        f"{'valid win/s':>13}{'x baseline':>11}"
    )
    for r in runners:
        rate = statistics.median(r.train_rates)
        gflops = rate * flops / 1e9
        peak = peaks["bf16" if "bfloat16" in r.name else "fp32"]
        print(
            f"{r.name:27}{rate:12.0f}{median_ratio(r.train_rates, base.train_rates):11.2f}"
            f"{gflops:9.1f}{100 * gflops / peak:8.0f}%"
            f"{statistics.median(r.eval_rates):13.0f}"
            f"{median_ratio(r.eval_rates, base.eval_rates):11.2f}"
        )
    print(
        "(medians over rounds; ratios are medians of per-round ratios; 'of peak' against the "
        "matmul peak of the row's dtype)"
    )


def quality(root_path: str, path: str, epochs: int, threads: int | None) -> None:
    """Train tsvq `epochs` epochs with --amp 0 and --amp 1, and the baseline; test MSE of each.

    tsvq runs its own command line and `tsvq eval`'s code on the best checkpoint; the
    baseline trains in-process and is scored on its best validation epoch the same way (MSE
    per element in RevIN space, fp32).
    """
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for amp in (0, 1):
            save = Path(tmp) / f"amp{amp}"
            t = time.perf_counter()
            with contextlib.redirect_stdout(io.StringIO()):
                rc = tsvq_main(
                    [
                        "train",
                        "--dset",
                        DSET,
                        "--channel",
                        "0",
                        "--root_path",
                        root_path,
                        "--n_epochs",
                        str(epochs),
                        "--amp",
                        str(amp),
                        "--save_path",
                        str(save),
                        *(["--threads", str(threads)] if threads else []),
                    ]
                )
            if rc:
                raise SystemExit(f"tsvq train --amp {amp} failed with status {rc}")
            seconds = time.perf_counter() - t
            tok = Tokenizer.from_pretrained(next(save.glob("*/*_model1.pth")))
            mse = evaluate(tok, load_split_data(tok), "test").mse
            results[f"tsvq --amp {amp}"] = (mse, seconds)
        torch.manual_seed(0)
        model = BaselineVQVAE()
        optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4, weight_decay=1e-4)
        schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, 100, eta_min=1e-6)
        loaders = {s: window_loader(path, DSET, s, 512, BATCH) for s in ("train", "val", "test")}
        device = torch.device("cpu")
        t = time.perf_counter()
        best, best_state = float("inf"), None
        for _ in range(epochs):
            for batch_x, _ in loaders["train"]:
                baseline_step(model, optimizer, batch_x, device)
            schedule.step()
            recon, vq, _ = baseline_evaluate(model, loaders["val"], device, True)
            if recon + vq < best:
                best = recon + vq
                best_state = {k: v.clone() for k, v in model.state_dict().items()}
        seconds = time.perf_counter() - t
        model.load_state_dict(best_state)
        recon, _, _ = baseline_evaluate(model, loaders["test"], device, True)
        results["baseline"] = (recon / 512, seconds)
    print(f"\ntest MSE per element in RevIN space after {epochs} epochs (best validation epoch):")
    for name, (mse, seconds) in results.items():
        print(f"  {name:16} {mse:.4f}   ({seconds:.0f} s to train)")
    a0, a1 = results["tsvq --amp 0"][0], results["tsvq --amp 1"][0]
    print(f"  --amp 1 against --amp 0: {100 * (a1 / a0 - 1):+.1f}% test MSE")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--root_path", default=os.environ.get("TSVQ_DATA_DIR", "data"))
    p.add_argument("--steps", type=int, default=30, help="training batches per round")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument(
        "--threads",
        type=int,
        default=None,
        help="torch threads for both (default: torch's); 1 on a shared machine",
    )
    p.add_argument(
        "--default_malloc",
        action="store_true",
        help="leave glibc's malloc as it is (tsvq's trainer keeps freed memory; "
        "by default both sides here get that, so the ratio is the loop's own)",
    )
    p.add_argument(
        "--quality",
        action="store_true",
        help="also train 3 epochs each and compare test MSE (minutes)",
    )
    p.add_argument("--epochs", type=int, default=3, help="epochs for --quality")
    p.add_argument(
        "--matmul_size",
        type=int,
        default=2048,
        help="n of the n x n products that measure the peak (small: a quick check)",
    )
    p.add_argument(
        "--compiled",
        action="store_true",
        help="also tsvq bf16 with its step compiled (--compile 1; the compile, minutes on a "
        "busy CPU the first time, falls in the warm-up)",
    )
    p.add_argument(
        "--whole",
        type=int,
        default=None,
        metavar="N",
        help="also a 100-epoch run's whole-process time, original script against tsvq "
        "train, estimated from N >= 2 epochs each (long_run.py)",
    )
    p.add_argument("--whole_rounds", type=int, default=2, help="rounds of --whole's processes")
    args = p.parse_args()
    if args.whole is not None and args.whole < 2:
        p.error("--whole: at least 2 epochs (a steady epoch is the time between two lines)")
    if args.threads:
        torch.set_num_threads(args.threads)
    if not args.default_malloc:
        keep_freed_memory()
    spec = data_mod.DataSpec(
        dset=DSET, root_path=args.root_path, data_path=None, context_points=512, channel=0
    )
    data = data_mod.load(spec)
    path = os.path.join(args.root_path, "ETT-small", "ETTh1.csv")
    speed(args, data, path)
    if args.quality:
        quality(args.root_path, path, args.epochs, args.threads)
    if args.whole:
        whole = argparse.Namespace(
            root_path=args.root_path,
            epochs=args.whole,
            rounds=args.whole_rounds,
            context_points=512,
            dset=DSET,
            no_compiled=False,
        )
        long_run.whole(whole)


if __name__ == "__main__":
    main()
