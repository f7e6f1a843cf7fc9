"""The training settings of a run (the model's are `model.ModelConfig`) and the choices they
share with the command line."""

from __future__ import annotations

import math
from dataclasses import dataclass

from tsvq.errors import ConfigError

SELECT_BY = ("recon", "loss")
DEVICES = ("auto", "cpu", "cuda")  # --device: auto picks CUDA when there is a GPU
# torch.manual_seed takes up to 2^64 - 1, but the quantizer derives seeds from it
# (seed * 1_000_003 + ...): 2^32 - 1, numpy's classic bound, keeps every derived seed in range.
MAX_SEED = 2**32 - 1


@dataclass
class TrainConfig:
    n_epochs: int = 100
    batch_size: int = 64
    lr: float = 1e-4
    weight_decay: float = 1e-4
    amp: bool = True
    patience: int = 10
    grad_clip: float = 1.0
    min_lr: float = 1e-6
    select_by: str = "recon"  # the validation figure that picks the best model and stops early
    seed: int = 2021
    max_steps_per_epoch: int | None = None
    threads: int | None = None  # CPU threads; None: the cores other processes leave free
    device: str = "auto"  # one of DEVICES, or a torch device such as "cuda:1"
    resume: bool = False
    log_dir: str | None = None  # TensorBoard event files under {log_dir}/{model_name}/

    def __post_init__(self) -> None:
        for name in ("n_epochs", "batch_size", "patience"):
            _need(
                self,
                name,
                _int(getattr(self, name)) and getattr(self, name) >= 1,
                "a positive integer",
            )
        for name in ("max_steps_per_epoch", "threads"):
            v = getattr(self, name)
            _need(self, name, v is None or _int(v) and v >= 1, "a positive integer or None")
        _need(
            self,
            "seed",
            _int(self.seed) and 0 <= self.seed <= MAX_SEED,
            f"an integer from 0 to {MAX_SEED}",
        )
        for name, low in (("lr", 0.0), ("grad_clip", 0.0)):
            v = getattr(self, name)
            _need(self, name, _real(v) and v > low, "a finite number > 0")
        for name in ("weight_decay", "min_lr"):
            v = getattr(self, name)
            _need(self, name, _real(v) and v >= 0, "a finite number >= 0")
        _need(self, "select_by", self.select_by in SELECT_BY, f"one of {', '.join(SELECT_BY)}")
        for name in ("amp", "resume"):
            _need(self, name, isinstance(getattr(self, name), bool), "true or false")
        _need(
            self,
            "device",
            isinstance(self.device, str) and bool(self.device),
            f"one of {', '.join(DEVICES)} or a torch device name",
        )
        _need(
            self,
            "log_dir",
            self.log_dir is None or isinstance(self.log_dir, str),
            "a folder name or None",
        )


def _int(v: object) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _real(v: object) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


def _need(cfg: object, name: str, ok: bool, allowed: str) -> None:
    if not ok:
        raise ConfigError(name, f"{name} must be {allowed}, got {getattr(cfg, name)!r}")
