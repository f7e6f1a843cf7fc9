"""The forecaster's settings: its shape (`ForecastConfig`) and its training (`FitConfig`).

Each checks itself when it is made and names the field it refuses (`ConfigError`), so a bad
value from a flag, a file or a caller is one line.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import Any, Literal, get_args

from tsvq.config import MAX_SEED
from tsvq.errors import ConfigError

Inputs = Literal["codes", "patches"]
Loss = Literal["smoothl1", "mse"]
INPUTS: tuple[str, ...] = get_args(Inputs)
LOSSES: tuple[str, ...] = get_args(Loss)


@dataclass(frozen=True)
class ForecastConfig:
    """What the forecaster computes: `horizon` steps from a context of `context_points`.

    The context is read as `context_points / token_len` tokens: with `inputs="codes"` the
    codebook vectors (`code_dim` long) of a frozen tokenizer's codes, one per `token_len` steps
    (its compression factor), plus a learned embedding of the ids with `id_embedding`; with
    `inputs="patches"` the context's own values, `token_len` at a time (no quantization). Each
    position of the transformer encoder reads `group` consecutive tokens side by side (the
    tokenizer's tokens per patch: one position per patch, as PatchTST reads patches); a
    linear head predicts the horizon's shape, and a small MLP over the context the horizon's
    mean and std, all in the context's RevIN space.
    """

    context_points: int
    horizon: int
    token_len: int
    inputs: Inputs = "codes"
    code_dim: int = 0  # the tokenizer's embedding_dim (codes only)
    vocab_size: int = 0  # the tokenizer's num_embeddings (codes only)
    group: int = 1
    id_embedding: bool = False
    d_model: int = 64
    n_heads: int = 4
    d_ff: int = 256
    n_layers: int = 2
    dropout: float = 0.2
    stats_hidden: int = 512
    stats_dropout: float = 0.2

    def __post_init__(self) -> None:
        positive = ("context_points", "horizon", "token_len", "group", "d_model", "n_heads")
        for name in (*positive, "d_ff", "n_layers", "stats_hidden"):
            _need(
                self,
                name,
                _int(getattr(self, name)) and getattr(self, name) >= 1,
                "a positive integer",
            )
        for name in ("code_dim", "vocab_size"):
            _need(
                self,
                name,
                _int(getattr(self, name)) and getattr(self, name) >= 0,
                "an integer >= 0",
            )
        for name in ("dropout", "stats_dropout"):
            v = getattr(self, name)
            _need(self, name, _real(v) and 0 <= v < 1, "in [0, 1)")
        _need(self, "inputs", self.inputs in INPUTS, f"one of {', '.join(INPUTS)}")
        _need(self, "id_embedding", isinstance(self.id_embedding, bool), "true or false")
        checks: tuple[tuple[str, bool, str], ...] = (
            (
                "token_len",
                self.context_points % self.token_len == 0,
                f"a divisor of context_points={self.context_points}",
            ),
            (
                "group",
                self.context_points % (self.token_len * self.group) == 0,
                f"a divisor of the context's {self.context_points // self.token_len} tokens",
            ),
            ("n_heads", self.d_model % self.n_heads == 0, f"a divisor of d_model={self.d_model}"),
            (
                "code_dim",
                self.inputs == "patches" or self.code_dim >= 1,
                "a positive integer with inputs='codes'",
            ),
            (
                "vocab_size",
                self.inputs == "patches" or self.vocab_size >= 1,
                "a positive integer with inputs='codes'",
            ),
            (
                "id_embedding",
                not self.id_embedding or self.inputs == "codes",
                "false with inputs='patches' (patches have no ids)",
            ),
        )
        for name, ok, allowed in checks:
            _need(self, name, ok, allowed)

    @property
    def n_tokens(self) -> int:
        return self.context_points // self.token_len

    @property
    def n_positions(self) -> int:
        """Positions of the transformer encoder: tokens / group."""
        return self.n_tokens // self.group

    @property
    def token_dim(self) -> int:
        """The length of each input token: a code vector, or `token_len` values."""
        return self.code_dim if self.inputs == "codes" else self.token_len

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class FitConfig:
    """How a forecaster is trained: AdamW under a one-cycle schedule, per step."""

    n_epochs: int = 10
    batch_size: int = 128
    lr: float = 1e-3
    weight_decay: float = 1e-4
    amp: bool = False  # bf16 measured slower than fp32 for this model on a CPU (docs/forecast.md)
    patience: int = 3
    grad_clip: float = 1.0
    loss: Loss = "smoothl1"
    seed: int = 2021
    max_steps_per_epoch: int | None = None
    threads: int | None = None
    device: str = "auto"
    resume: bool = False

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
        _need(self, "lr", _real(self.lr) and self.lr > 0, "a finite number > 0")
        _need(
            self, "grad_clip", _real(self.grad_clip) and self.grad_clip > 0, "a finite number > 0"
        )
        _need(
            self,
            "weight_decay",
            _real(self.weight_decay) and self.weight_decay >= 0,
            "a finite number >= 0",
        )
        _need(self, "loss", self.loss in LOSSES, f"one of {', '.join(LOSSES)}")
        for name in ("amp", "resume"):
            _need(self, name, isinstance(getattr(self, name), bool), "true or false")
        _need(self, "device", isinstance(self.device, str) and bool(self.device), "a device name")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# Settings that shape a training run's trajectory: --resume continues only a run with the same.
TRAJECTORY = tuple(
    f.name for f in fields(FitConfig) if f.name not in ("threads", "device", "resume")
)


def _int(v: object) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _real(v: object) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


def _need(cfg: object, name: str, ok: bool, allowed: str) -> None:
    if not ok:
        raise ConfigError(name, f"{name} must be {allowed}, got {getattr(cfg, name)!r}")
