"""Time to quality: the step and wall time at which training first beats the network-free baseline.

tsvq trains with its own loop (`train.loop.setup` and `run_training_epoch`, the settings of
`tsvq train` as given by `--flags` or a recipe) and, side by side on the same batches, the
original formulation (`original_trainer.py`'s model, uniform codebook, AdamW and step, fp32).
Every `--probe_every` training steps both are scored on a fixed subset of the validation
series, and so is the baseline (k-means with the model's K on raw `compression_factor`-step
segments, `tsvq.report.baseline`): the first probe below the baseline is the step reported,
with the training wall time up to it (probes excluded). After the epochs named by `--test_at`
the model is scored on the whole test split, beside the baseline on the same windows.

    TSVQ_DATA_DIR=../shared/data python benchmarks/time_to_quality.py --dset etth1 \\
        --channel 0 --epochs 10 --results ttq.jsonl
    python benchmarks/time_to_quality.py --results ttq.jsonl --table   # print only

MSE: per element in the model's space (RevIN), as `tsvq eval` reports it. A bounded run
(`--max_steps_per_epoch`) says so in the steps column (N/M: N of M batches per epoch).
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from collections.abc import Callable

import numpy as np
import rowfile
import torch
from original_trainer import BaselineVQVAE, baseline_step

from tsvq.cli.flags import Parser
from tsvq.cli.runconfig import config_tokens
from tsvq.cli.train import add_args, from_flags
from tsvq.config import TrainConfig
from tsvq.data import windows
from tsvq.data.windows import SeriesData, count_batches, epoch_order, series_batches
from tsvq.model.vqvae import ModelConfig
from tsvq.report.baseline import FIT_SEGMENTS, bits_per_value, fit_codebook, score, series_errors
from tsvq.run.record import RunRecord
from tsvq.train.loop import run_training_epoch
from tsvq.train.setup import data_record, setup


def configs(flags: list[str]) -> tuple[ModelConfig, TrainConfig, windows.DataSpec]:
    """The configurations `tsvq train FLAGS` would run with (a `--config` recipe included)."""
    parser = Parser(prog="tsvq train")
    add_args(parser)
    args = parser.parse_args(flags)
    if args.config:  # the recipe's flags first: the ones given here win, as in `tsvq train`
        args = parser.parse_args([*config_tokens(args.config, parser)[0], *flags])
    return (
        from_flags(ModelConfig, args, revin=bool(args.revin)),
        from_flags(TrainConfig, args, amp=bool(args.amp)),
        from_flags(windows.DataSpec, args),
    )


class Probe:
    """Scores a model on fixed validation series every `every` training steps; the clock
    counts training time only."""

    def __init__(self, x: torch.Tensor, every: int, target: float, verbose: bool) -> None:
        self.x, self.every, self.target, self.verbose = x, every, target, verbose
        self.steps, self.train_seconds, self.curve = 0, 0.0, []
        self.passed: tuple[int, float] | None = None
        self._t = time.perf_counter()

    def after_step(self, mse_of: Callable[[torch.Tensor], float]) -> None:
        self.steps += 1
        if self.steps % self.every == 0:
            self.check(mse_of)

    def check(self, mse_of: Callable[[torch.Tensor], float]) -> None:
        self.train_seconds += time.perf_counter() - self._t
        mse = mse_of(self.x)
        self.curve.append((self.steps, round(self.train_seconds, 2), mse))
        if self.verbose:
            print(f"step {self.steps}: validation MSE {mse:.5f}", file=sys.stderr, flush=True)
        if self.passed is None and mse < self.target:
            self.passed = (self.steps, round(self.train_seconds, 2))
        self._t = time.perf_counter()


def tsvq_mse(model: torch.nn.Module) -> Callable[[torch.Tensor], float]:
    @torch.inference_mode()
    def mse(x: torch.Tensor) -> float:
        was = model.training
        model.eval()
        se = sum(
            float((o.recon - o.target).double().pow(2).sum()) for o in map(model, x.split(512))
        )
        model.train(was)
        return se / x.numel()

    return mse


def original_mse(model: BaselineVQVAE) -> Callable[[torch.Tensor], float]:
    @torch.no_grad()
    def mse(x: torch.Tensor) -> float:
        was = model.training
        model.eval()  # its forward returns the recon loss summed per series
        se = sum(float(model(part)[0]) * part.shape[0] for part in x.split(512))
        model.train(was)
        return se / x.numel()

    return mse


def test_mse(mse_of: Callable[[torch.Tensor], float], data: SeriesData) -> float:
    """MSE per element over every window and channel of the test split."""
    total = n = 0.0
    for chunk in windows.window_chunks(data, "test", 1 << 21):
        x = torch.from_numpy(chunk).reshape(-1, data.spec.context_points)  # [b*C, T]
        total += mse_of(x) * x.numel()
        n += x.numel()
    return total / n


def run_tsvq(data, model_cfg, tcfg, probe, test_at) -> tuple[dict, Callable]:
    record = RunRecord(model_cfg, data_record(data), tcfg, {}, 0, math.nan, math.nan, {})
    run = setup(record, data, None)
    mse_of = tsvq_mse(run.core)
    governor = run.tick

    def tick() -> None:  # after every batch, training and validation alike
        if governor is not None:
            governor()
        if run.core.training:
            probe.after_step(mse_of)

    run.tick = tick
    tests = {}
    for epoch in range(1, tcfg.n_epochs + 1):
        run_training_epoch(run, data, epoch)
        if epoch in test_at:
            tests[epoch] = test_mse(mse_of, data)
    return tests, mse_of


def run_original(data, model_cfg, tcfg, probe, test_at) -> tuple[dict, Callable]:
    """The original formulation on tsvq's batches: its model, codebook start, AdamW, cosine
    over epochs and step (clipping at 1.0, fp32 on a CPU)."""
    torch.manual_seed(tcfg.seed)
    m = model_cfg
    model = BaselineVQVAE(
        m.patch_size,
        m.embedding_dim,
        m.num_embeddings,
        m.compression_factor,
        m.block_hidden_size,
        m.num_residual_layers,
        m.res_hidden_size,
        m.commitment_cost,
        m.revin,
    )
    opt = torch.optim.AdamW(model.parameters(), lr=tcfg.lr, weight_decay=tcfg.weight_decay)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, tcfg.n_epochs, eta_min=tcfg.min_lr)
    mse_of = original_mse(model)
    n_series = data.n_windows("train") * data.n_channels
    limit = tcfg.max_steps_per_epoch * tcfg.batch_size if tcfg.max_steps_per_epoch else None
    device = torch.device("cpu")
    tests = {}
    for epoch in range(1, tcfg.n_epochs + 1):
        order = epoch_order(n_series, tcfg.seed, epoch, limit=limit)
        n = count_batches(len(order), tcfg.batch_size, tcfg.max_steps_per_epoch)
        model.train()
        for x in series_batches(data, "train", tcfg.batch_size, order, n):
            baseline_step(model, opt, x[:, :, None], device, amp=False)
            probe.after_step(mse_of)
        sched.step()
        if epoch in test_at:
            tests[epoch] = test_mse(mse_of, data)
    return tests, mse_of


RUNNERS = {"tsvq": run_tsvq, "original": run_original}


def measure(args: argparse.Namespace, formulation: str, seed: int) -> dict:
    flags = ["--dset", args.dset, *args.flags.split(), "--seed", str(seed)]
    flags += ["--n_epochs", str(args.epochs)]
    if args.channel != "all":
        flags += ["--channel", args.channel]
    if args.max_steps_per_epoch:
        flags += ["--max_steps_per_epoch", str(args.max_steps_per_epoch)]
    model_cfg, tcfg, spec = configs(flags)
    data = windows.load(spec)
    k, cf, revin = model_cfg.num_embeddings, model_cfg.compression_factor, model_cfg.revin
    n_val = data.n_windows("val") * data.n_channels
    pick = epoch_order(n_val, 0, 0, shuffle=False, limit=args.probe_series)
    views = data.windows("val")
    c = data.n_channels
    x = torch.from_numpy(np.ascontiguousarray(views[pick // c, pick % c]))  # [P, T]
    codebook = fit_codebook(data, k, cf, revin, n_segments=args.baseline_segments)
    code_se, _ = series_errors(codebook, x, revin)
    target = float(code_se.sum()) / x.numel()
    test_at = {e for e in args.test_at if e <= args.epochs} | {args.epochs}
    probe = Probe(x, args.probe_every, target, args.verbose)
    t0 = time.perf_counter()
    tests, mse_of = RUNNERS[formulation](data, model_cfg, tcfg, probe, test_at)
    if probe.steps % probe.every:
        probe.check(mse_of)  # the last step is always probed
    seconds = time.perf_counter() - t0
    base_test = float(score(codebook, data, "test", revin)[0].mean())  # the same codebook
    batches = -(-data.n_windows("train") * data.n_channels // tcfg.batch_size)
    per_epoch = min(batches, tcfg.max_steps_per_epoch or batches)
    return {
        "dset": spec.dset,
        "channels": "first"
        if spec.channel == 0
        else f"all {c}"
        if spec.channel is None
        else str(spec.channel),
        "formulation": formulation,
        "flags": args.flags,
        "seed": seed,
        "epochs": args.epochs,
        "steps": f"{per_epoch}/{batches}" if per_epoch < batches else str(batches),
        "probe_series": int(x.shape[0]),
        "baseline_val": target,
        "baseline_test": base_test,
        "bits_per_value": bits_per_value(k, cf),
        "passed_step": probe.passed[0] if probe.passed else None,
        "passed_seconds": probe.passed[1] if probe.passed else None,
        "total_steps": probe.steps,
        "best_val": min(m for _, _, m in probe.curve),
        "test": {str(e): v for e, v in sorted(tests.items())},
        "train_seconds": round(probe.train_seconds, 1),
        "seconds": round(seconds, 1),
        "curve": probe.curve,
    }


def table(rows: list[dict]) -> str:
    head = (
        f"{'dataset':<9}{'channels':<9}{'run':<26}{'seed':>5}{'ep':>4}{'steps':>10}"
        f"{'baseline':>10}{'passed at step':>16}{'s':>8}{'best val':>10}"
        f"{'test ep 3':>10}{'test last':>10}{'gain':>7}{'base test':>10}"
    )
    body = []
    key = ("dset", "channels", "epochs", "steps", "flags", "formulation", "seed")
    for r in rowfile.sorted_by(rows, key):
        name = (r["formulation"] + (" " + r["flags"] if r["flags"] else ""))[:25]
        passed = (
            f"{r['passed_step']:,}"
            if r["passed_step"] is not None
            else f"not in {r['total_steps']:,}"
        )
        secs = f"{r['passed_seconds']:.0f}" if r["passed_seconds"] is not None else "-"
        last = r["test"][str(r["epochs"])]
        e3 = r["test"].get("3")
        gain = rowfile.gain(last, r["baseline_test"])
        body.append(
            f"{r['dset']:<9}{r['channels']:<9}{name:<26}{r['seed']:>5}{r['epochs']:>4}"
            f"{r['steps']:>10}{r['baseline_val']:>10.4f}{passed:>16}{secs:>8}"
            f"{r['best_val']:>10.4f}{(f'{e3:.4f}' if e3 is not None else '-'):>10}"
            f"{last:>10.4f}{gain:>6.0f}%{r['baseline_test']:>10.4f}"
        )
    note = (
        "baseline: k-means with the model's K on raw compression_factor-step segments, MSE on "
        "the probed validation series; passed at step: the first probe below it, and the "
        "training seconds up to it (shared CPU); test ep 3 / last: the model after that "
        "epoch on the whole test split; gain: test last below base test (the baseline on the "
        "test split), in percent; steps: N/M where --max_steps_per_epoch bounds an epoch of M"
    )
    return rowfile.layout(head, body, note)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dset", default="etth1")
    p.add_argument("--channel", default="0", help="channel index, or 'all'")
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--max_steps_per_epoch", type=int, default=None)
    p.add_argument("--seeds", type=int, nargs="+", default=[2021])
    p.add_argument("--formulations", nargs="+", default=["tsvq", "original"], choices=list(RUNNERS))
    p.add_argument("--flags", default="", help="more tsvq train flags (or --config FILE), quoted")
    p.add_argument("--probe_every", type=int, default=50, help="training steps between probes")
    p.add_argument("--probe_series", type=int, default=2048, help="validation series probed")
    p.add_argument("--test_at", type=int, nargs="+", default=[3], help="also test after these")
    p.add_argument(
        "--baseline_segments",
        type=int,
        default=FIT_SEGMENTS,
        help="training segments the baseline codebook is fitted on",
    )
    rowfile.add_args(p)
    p.add_argument("--verbose", action="store_true", help="print each probe on stderr")
    args = p.parse_args()
    results = rowfile.results_of(args)
    rows: list[dict] = []
    if not args.table:
        for seed in args.seeds:
            for formulation in args.formulations:
                rowfile.keep(measure(args, formulation, seed), rows, results, hide=("curve",))
    print(table(rowfile.gathered(rows, results)))


if __name__ == "__main__":
    main()
