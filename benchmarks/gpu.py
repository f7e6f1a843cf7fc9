"""GPU training speed: tsvq against the original formulation, AMP, torch.compile, CUDA graphs.

    PYTHONPATH=src python benchmarks/gpu.py [--batches 64,256,1024] [--steps 50]
    PYTHONPATH=src python benchmarks/gpu.py --device cpu --batches 64 --steps 3  # checks itself

Windows of ETTh1's first channel (the specification's defaults otherwise) are put on the device
once, so what is timed is the training step: forward, loss, backward, clipping, AdamW. Rows:

- baseline fp32 / fp16: the original formulation (`original_trainer.py`: TOTEM model, one-hot
  codebook lookup, full distances), eager, fp32 and with the AMP the original used on CUDA
  (fp16 autocast and a GradScaler);
- tsvq fp32 / bf16 / fp16: tsvq's own step (`make_step`, `losses`), eager;
- tsvq bf16 compile: `torch.compile` of the model (default mode), compile time reported apart,
  the codebook's one-off k-means start run eagerly on the first batch;
- tsvq bf16 compile+graphs: `torch.compile(mode="reduce-overhead")`, inductor's CUDA graphs;
- tsvq bf16 graphed convs: encoder and decoder captured as CUDA graphs with
  `torch.cuda.make_graphed_callables` (forward and backward), the quantizer left eager: its
  codebook upkeep reads step counters on the host, which a captured graph cannot do.

This small model is launch-bound on a GPU at batch 64 (hundreds of small kernels per step);
graphs and larger batches are what should move it. Exits with a message when there is no CUDA.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
from original_trainer import BaselineVQVAE  # noqa: E402

from tsvq.data import windows as data_mod  # noqa: E402
from tsvq.model.patchconv import run_flat  # noqa: E402
from tsvq.model.revin import normalize  # noqa: E402
from tsvq.model.vqvae import VQVAE, ModelConfig, Reconstruction  # noqa: E402
from tsvq.train.loop import TrainConfig, losses, make_optimizer, make_step  # noqa: E402


def windows_on(device: torch.device, root_path: str) -> torch.Tensor:
    """All training windows of ETTh1's first channel, [n, 512], on `device`."""
    spec = data_mod.DataSpec(
        dset="etth1", root_path=root_path, data_path=None, context_points=512, channel=0
    )
    data = data_mod.load(spec)
    batch = next(data_mod.series_batches(data, "train", data.n_windows("train")))
    return batch.to(device)


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class Config:
    """A named way to train: `setup(batch)` returns a step function taking a batch [B, T]."""

    def __init__(
        self,
        name: str,
        setup: Callable[[int], Callable[[torch.Tensor], None]],
        cuda_only: bool = False,
    ) -> None:
        self.name, self.setup, self.cuda_only = name, setup, cuda_only


def baseline(device: torch.device, amp: bool) -> Callable[[int], Callable]:
    def setup(_batch: int) -> Callable[[torch.Tensor], None]:
        torch.manual_seed(0)
        model = BaselineVQVAE().to(device)
        opt = torch.optim.AdamW(model.parameters(), lr=1e-4, weight_decay=1e-4)
        scaler = torch.amp.GradScaler(device.type, enabled=amp)

        def step(x: torch.Tensor) -> None:
            opt.zero_grad()
            with torch.autocast(device.type, dtype=torch.float16, enabled=amp):
                recon, vq, _ = model(x)
                loss = recon + vq
            scaler.scale(loss).backward()
            scaler.unscale_(opt)
            nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            scaler.step(opt)
            scaler.update()

        return step

    return setup


def tsvq(
    device: torch.device,
    dtype: torch.dtype | None,
    wrap: Callable[[VQVAE, int], nn.Module] | None = None,
    cache: bool = True,
) -> Callable[[int], Callable]:
    """tsvq's step; `wrap` compiles or graphs the model; graphs need autocast's cache off."""

    def setup(batch: int) -> Callable[[torch.Tensor], None]:
        torch.manual_seed(0)
        core = VQVAE(ModelConfig()).to(device)
        model = wrap(core, batch) if wrap else core
        opt = make_optimizer(core, TrainConfig(), device)
        scaler = torch.amp.GradScaler(device.type, enabled=dtype == torch.float16)
        update = make_step(core, opt, scaler, 1.0)

        def step(x: torch.Tensor) -> None:
            with torch.autocast(
                device.type,
                dtype=dtype or torch.float32,
                enabled=dtype is not None,
                cache_enabled=cache,
            ):
                recon, vq, _ = losses(model, x)
            update(recon + vq)

        return step

    return setup


class EagerStart(nn.Module):
    """`torch.compile(core)`, with the codebook's one-off k-means start run eagerly on the first
    batch (as tests/train/test_compiled_step.py does). Traced inside the compiled graph under bf16
    autocast, that start fails on a CPU (torch 2.13: `permute(sparse_coo)`)."""

    def __init__(self, core: VQVAE, mode: str | None) -> None:
        super().__init__()
        self.core, self.cfg = core, core.cfg
        self.fast = torch.compile(core, mode=mode)

    def forward(self, x: torch.Tensor) -> Reconstruction:
        return self.core(x) if self.core.quantizer.needs_init else self.fast(x)


def compiled(mode: str | None) -> Callable[[VQVAE, int], nn.Module]:
    def wrap(core: VQVAE, _batch: int) -> nn.Module:
        return EagerStart(core, mode)

    return wrap


class FlatStack(nn.Module):
    """An encoder or decoder run on position-major activations, as one graphable callable."""

    def __init__(self, stack: nn.Sequential) -> None:
        super().__init__()
        self.stack = stack

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return run_flat(self.stack, x)


class GraphedConvs(nn.Module):
    """VQVAE.forward with the encoder and decoder replaced by captured CUDA graphs."""

    def __init__(self, core: VQVAE, batch: int, dtype: torch.dtype) -> None:
        super().__init__()
        cfg, dev = core.cfg, next(core.parameters()).device
        self.core, self.cfg = core, cfg
        m = batch * cfg.n_patches
        with torch.autocast("cuda", dtype=dtype, cache_enabled=False):
            self.encoder = torch.cuda.make_graphed_callables(
                FlatStack(core.encoder), (torch.randn(m, cfg.patch_size, device=dev),)
            )
            width = cfg.tokens_per_patch * cfg.embedding_dim
            self.decoder = torch.cuda.make_graphed_callables(
                FlatStack(core.decoder), (torch.randn(m, width, device=dev, requires_grad=True),)
            )

    def forward(self, x: torch.Tensor) -> Reconstruction:
        cfg = self.cfg
        xn, _ = normalize(x)
        z = self.encoder(xn.reshape(-1, cfg.patch_size))  # [M, L*D]
        z = z.view(z.shape[0], cfg.tokens_per_patch, cfg.embedding_dim)
        vq = self.core.quantizer(z.transpose(1, 2))
        q = vq.quantized.transpose(1, 2).reshape(z.shape[0], -1)
        recon = self.decoder(q).reshape(x.shape[0], cfg.context_points)  # [N, T]
        return Reconstruction(
            recon, xn, vq.codes.reshape(x.shape[0], -1), vq.loss, vq.perplexity, vq.counts
        )


def graphed(dtype: torch.dtype) -> Callable[[VQVAE, int], nn.Module]:
    def wrap(core: VQVAE, batch: int) -> nn.Module:
        return GraphedConvs(core, batch, dtype)

    return wrap


def measure(
    step: Callable[[torch.Tensor], None],
    windows: torch.Tensor,
    batch: int,
    steps: int,
    device: torch.device,
) -> tuple[float, float]:
    """(seconds of the first 3 steps: compilation, capture; windows/s over `steps` after)."""
    n = windows.shape[0] - windows.shape[0] % batch
    gen = torch.Generator(device="cpu").manual_seed(0)
    batches = [windows[i] for i in torch.randperm(n, generator=gen).to(device).split(batch)]
    t = time.perf_counter()
    for i in range(3):
        step(batches[i % len(batches)])
    sync(device)
    warm = time.perf_counter() - t
    rates = []
    for _ in range(3):
        t = time.perf_counter()
        for i in range(steps):
            step(batches[i % len(batches)])
        sync(device)
        rates.append(steps * batch / (time.perf_counter() - t))
    return warm, statistics.median(rates)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--root_path", default=os.environ.get("TSVQ_DATA_DIR", "data"))
    p.add_argument("--batches", default="64,256,1024")
    p.add_argument("--steps", type=int, default=50, help="timed steps per repeat (3 repeats)")
    p.add_argument("--device", default="cuda", help="cuda, or cpu to check this script")
    p.add_argument("--skip", default="", help="comma-separated row names to leave out")
    args = p.parse_args()
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        print("gpu.py: no CUDA device here, nothing to measure (--device cpu checks the script)")
        return
    bf16 = device.type == "cpu" or torch.cuda.is_bf16_supported()
    half = torch.bfloat16 if bf16 else torch.float16
    configs = [
        Config("baseline fp32", baseline(device, amp=False)),
        Config("baseline fp16 amp", baseline(device, amp=True), cuda_only=True),
        Config("tsvq fp32", tsvq(device, None)),
        Config("tsvq bf16", tsvq(device, torch.bfloat16)),
        Config("tsvq fp16", tsvq(device, torch.float16), cuda_only=True),
        Config(f"tsvq {str(half)[6:]} compile", tsvq(device, half, compiled(None))),
        Config(
            f"tsvq {str(half)[6:]} compile+graphs",
            tsvq(device, half, compiled("reduce-overhead")),
            cuda_only=True,
        ),
        Config(
            f"tsvq {str(half)[6:]} graphed convs",
            tsvq(device, half, graphed(half), cache=False),
            cuda_only=True,
        ),
    ]
    skip = set(filter(None, args.skip.split(",")))
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    print(f"{name}; torch {torch.__version__}; ETTh1 channel 0, context 512, patch 16")
    windows = windows_on(device, args.root_path)
    batches = [int(b) for b in args.batches.split(",")]
    rates: dict[str, dict[int, float]] = {}
    warms: dict[str, float] = {}
    for c in configs:
        if c.name in skip or (c.cuda_only and device.type != "cuda"):
            continue
        rates[c.name] = {}
        for b in batches:
            try:
                warm, rates[c.name][b] = measure(c.setup(b), windows, b, args.steps, device)
                warms[c.name] = max(warms.get(c.name, 0.0), warm)
            except Exception as exc:  # one failing row (an old GPU, a compile error) is a row
                print(f"  {c.name} B={b}: {type(exc).__name__}: {str(exc)[:200]}")
    # the yardstick: what the original ran on this device (fp16 AMP on CUDA, fp32 on a CPU)
    yard = next((n for n in ("baseline fp16 amp", "baseline fp32") if rates.get(n)), None)
    print(
        f"{'':32}"
        + "".join(f"{'B=' + str(b):>14}" for b in batches)
        + f"   windows/s, x {yard or '-'}"
    )
    for row, by_batch in rates.items():
        cells = []
        for b in batches:
            if b not in by_batch:
                cells.append(f"{'failed':>14}")
                continue
            ref = rates.get(yard, {}).get(b)
            cells.append(
                f"{by_batch[b]:8.0f} {by_batch[b] / ref:4.1f}x" if ref else f"{by_batch[b]:14.0f}"
            )
        print(f"{row:32}" + "".join(cells) + f"   first 3 steps {warms.get(row, 0):.1f} s")
    print(
        "first 3 steps: the longest over the batch sizes (compilation, capture); x: against "
        "the original's own mode on this device"
    )


if __name__ == "__main__":
    main()
