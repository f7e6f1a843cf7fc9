"""`--compile`: the training and validation steps compiled with `torch.compile` when it pays.

Compiling the step removes most of its per-operation overhead but costs tens of seconds (more
on a busy CPU), so `auto` decides per run: the first training steps run eagerly and are timed,
and the run compiles when

    steps left x (measured eager step x fraction saved) > compile cost

where the fraction saved and the compile cost are this machine's own figures for the same
shape, kept in `compile_figures.json` beside the compiler's on-disk cache (whose artifacts make
a second compile of that shape far cheaper), and before any run of the shape has compiled here
the first guesses FIRST_SAVING and FIRST_COMPILE_S. Steps left count every remaining epoch
(early stopping can end a run sooner) and a validation batch as a third of a training step (a
forward pass alone). A partial last batch runs eagerly (one graph per mode, no recompiling for
its shape); the one-off k-means start runs eagerly on the first batch.

After compiling, `auto` times the compiled training steps too: where they are no faster than
the eager ones (a CPU with AMX, where the eager step is dense matrix products and the compiled
graph's own kernels lose), training goes back to eager for the rest of the run in one line, and
the figures it records keep the next run of the shape eager from the start.

A machine where compilation fails (no C compiler, say) trains on eagerly after one line.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch._inductor.runtime.cache_dir_utils import cache_dir as inductor_cache

from tsvq.config import CompileChoice
from tsvq.files import write_json
from tsvq.model.vqvae import VQVAE
from tsvq.runtime.distributed import broadcast, is_main
from tsvq.train.setup import losses

WARM_UP = 3  # eager training steps before the timed ones (first-call allocations)
TIMED = 8  # eager training steps timed for the decision
# fewer training steps left never pay for compiling at tsvq's sizes (100 steps of 40 ms, all
# saved, are 4 s; the cheapest compile measured here, from the cache, 20 s): eager, untimed
MIN_STEPS = 100
FIRST_SAVING = 0.2  # fraction of an eager step saved, before a compiled run measured it here
FIRST_COMPILE_S = 120.0  # compile cost before one was measured here (35-150 s seen on 2 cores)
VALID_WEIGHT = 1 / 3  # a validation batch, forward only, against a training step
FIGURES = "compile_figures.json"

Losses = tuple[torch.Tensor, torch.Tensor, Any]


def cache_dir() -> Path:
    """The compiler's on-disk cache (TORCHINDUCTOR_CACHE_DIR, else its default)."""
    return Path(inductor_cache())


def shape_key(core: VQVAE, batch_size: int, dtype: torch.dtype | None) -> str:
    """What a compiled graph depends on: the model's settings, the batch, precision, torch."""
    cfg = sorted((k, str(v)) for k, v in vars(core.cfg).items())
    return json.dumps([cfg, batch_size, str(dtype), torch.__version__])


@dataclass
class Figures:
    """This machine's measured figures for one shape: the last compile's cost (seconds) and the
    fraction of an eager step that compiling saved."""

    compile_s: float
    saving: float


def read_figures(path: Path, key: str) -> Figures | None:
    """The figures recorded for `key`, or None: a missing, unreadable or odd file counts as no
    measurement (it only steers a decision, and is rewritten by the next compiled run)."""
    try:
        got = json.loads(path.read_text()).get(key)
        compile_s, saving = float(got["compile_s"]), float(got["saving"])
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        return None
    if not (math.isfinite(compile_s) and compile_s >= 0 and -1 < saving < 1):
        return None
    return Figures(compile_s, saving)


def write_figures(path: Path, key: str, figures: Figures) -> None:
    """Record `figures` for `key`, keeping the other shapes' (best effort: a cache folder that
    cannot be written costs the next run its measurement, never this run)."""
    try:
        held = json.loads(path.read_text())
        held = held if isinstance(held, dict) else {}
    except (OSError, ValueError):
        held = {}
    held[key] = {"compile_s": figures.compile_s, "saving": figures.saving}
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_json(path, held)
    except Exception:  # noqa: BLE001 - any failure here only loses a figure
        pass


def decide(steps: float, eager_step_s: float, figures: Figures | None) -> tuple[bool, str]:
    """Whether `steps` more steps of `eager_step_s` each pay for compiling, and the figures
    in words (the console line's)."""
    saving = figures.saving if figures else FIRST_SAVING
    cost = figures.compile_s if figures else FIRST_COMPILE_S
    gain = steps * eager_step_s * max(saving, 0.0)
    source = "measured here" if figures else "first guesses: nothing measured here yet"
    yes = gain > cost
    words = (
        f"{steps:,.0f} steps left x {eager_step_s * 1e3:.1f} ms x {saving:.0%} saved = "
        f"{gain:,.0f} s {'>' if yes else '<='} {cost:,.0f} s to compile ({source})"
    )
    return yes, words


@dataclass
class Steps:
    """The losses of a batch, eager or compiled as `--compile` says, timed for `auto` and for
    the figures a compiled run records. `planned` is (training, validation) batches left."""

    model: torch.nn.Module
    core: VQVAE
    choice: CompileChoice
    batch_size: int
    planned: tuple[int, int]
    key: str
    log: Callable[[str], None]
    compiled: Callable[[torch.Tensor], Losses] | None = None
    decided: bool = False
    failed: bool = False
    calls: int = 0  # training calls so far
    last: float | None = None  # when the previous call started, if it was a training one
    # seconds between consecutive training calls: each one whole step, backward included
    intervals: list[float] = field(default_factory=list)
    eager_step_s: float = math.nan
    compile_s: float = 0.0
    compiled_at: int = -1  # the number of eager intervals when the step was compiled
    valid_compiled: bool = False
    compiled_step_s: float = math.nan
    train_eager: bool = False  # auto measured the compiled training step slower: eager again

    def __call__(self, x: torch.Tensor, training: bool) -> Losses:
        """(recon, vq, output) of batch `x` (`losses`), through the compiled step when one is
        in use and the batch is whole."""
        model = self.model if training else self.core
        if training:
            self._tick()
        else:
            self.last = None  # validation between training calls is no training step's time
        fn = self.compiled
        whole = x.shape[0] == self.batch_size and not self.core.quantizer.needs_init
        if fn is None or not whole or self.failed or (training and self.train_eager):
            return losses(model, x)
        t = time.perf_counter()
        try:
            out = fn(x)
        except Exception as exc:  # noqa: BLE001 - any compiler failure: train on eagerly
            self._fall_back(exc)
            return losses(model, x)
        if not training and not self.valid_compiled:  # its compile, with one forward pass
            self.valid_compiled = True
            self.compile_s += time.perf_counter() - t
            self._record()
        return out

    def _tick(self) -> None:
        self.calls += 1
        measuring = self.compiled_at >= 0 and math.isnan(self.compiled_step_s)
        if self.decided and not measuring:
            return  # nothing left to time
        now = time.perf_counter()
        if self.last is not None:
            self.intervals.append(now - self.last)
        self.last = now
        timed = len(self.intervals) >= WARM_UP + TIMED
        if not self.decided and (self.choice != "auto" or self.planned[0] < MIN_STEPS or timed):
            self._decide()
        elif self.compiled_at >= 0:
            self._measure_compiled()

    def _decide(self) -> None:
        self.decided = True
        if self.choice == "0":
            return
        if self.choice == "1":
            self._compile()
            return
        train_left, valid_left = self.planned
        if train_left < MIN_STEPS:
            self.log(
                f"Compile (auto): no, {train_left:,} training steps in all: too few to pay "
                "for compiling"
            )
            return
        self.eager_step_s = sum(self.intervals[-TIMED:]) / TIMED
        steps = (train_left - self.calls) + valid_left * VALID_WEIGHT
        yes, words = decide(steps, self.eager_step_s, read_figures(_figures_path(), self.key))
        yes = bool(broadcast(torch.tensor([int(yes)]))[0])  # process 0's decision, for all
        self.log(f"Compile (auto): {'yes' if yes else 'no'}, {words}")
        if yes:
            self._compile()

    def _compile(self) -> None:
        self.compiled = torch.compile(
            lambda x: losses(self.model if self.model.training else self.core, x),
            fullgraph=True,
            dynamic=False,
        )
        self.compiled_at = len(self.intervals)

    def _measure_compiled(self) -> None:
        """After compiling: the first compiled step's time less an eager step's is the training
        graph's compile cost, then TIMED compiled steps after a warm-up."""
        done = len(self.intervals) - self.compiled_at
        if done == 1 and self.last is not None:
            base = 0.0 if math.isnan(self.eager_step_s) else self.eager_step_s
            self.compile_s += max(self.intervals[-1] - base, 0.0)
        elif done == 1 + WARM_UP + TIMED and math.isnan(self.compiled_step_s):
            self.compiled_step_s = sum(self.intervals[-TIMED:]) / TIMED
            self._record()
            self._keep_or_leave()

    def _keep_or_leave(self) -> None:
        """`auto` only: a compiled training step measured no faster than the eager one goes
        back to eager for the rest of the run (validation stays compiled: a forward pass alone
        gained on every CPU measured); the figures just recorded keep the next run eager."""
        if self.choice != "auto" or math.isnan(self.eager_step_s):
            return
        slower = self.compiled_step_s >= self.eager_step_s
        if not bool(broadcast(torch.tensor([int(slower)]))[0]):  # process 0's, for all
            return
        self.train_eager = True
        self.log(
            f"Compile (auto): training back to eager, the compiled step measured "
            f"{self.compiled_step_s * 1e3:.1f} ms against {self.eager_step_s * 1e3:.1f} ms "
            "eager (validation stays compiled)"
        )

    def _record(self) -> None:
        """This run's figures for the next (process 0), once both graphs compiled and both
        step times are known (`--compile 1` times no eager step: it records none)."""
        timed = not math.isnan(self.eager_step_s) and not math.isnan(self.compiled_step_s)
        if timed and self.valid_compiled and not self.failed and is_main():
            saving = 1 - self.compiled_step_s / self.eager_step_s
            write_figures(_figures_path(), self.key, Figures(self.compile_s, saving))

    def _fall_back(self, exc: BaseException) -> None:
        self.failed = True
        first = (str(exc).strip().splitlines() or [""])[0][:200]
        self.log(
            f"Compile: failed on this machine ({type(exc).__name__}: {first}); "
            "training continues eagerly"
        )


def _figures_path() -> Path:
    return cache_dir() / FIGURES
