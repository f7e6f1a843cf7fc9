"""The forecaster's settings: its shape (`ForecastConfig`) and its training (`FitConfig`).

Each checks itself when it is made and names the field it refuses (`ConfigError`), so a bad
value from a flag, a file or a caller is one line.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Annotated, Any, Literal, get_args

from tsvq.checks import Bound, NonNegative, Positive, check_fields
from tsvq.config import DEVICES, Decay, MaybePositive, Rate, Seed
from tsvq.errors import ConfigError

Inputs = Literal["codes", "patches"]
Loss = Literal["smoothl1", "mse"]
INPUTS: tuple[str, ...] = get_args(Inputs)
LOSSES: tuple[str, ...] = get_args(Loss)
Dropout = Annotated[float, Bound("in [0, 1)", lambda v: 0 <= v < 1)]


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

    context_points: Positive
    horizon: Positive
    token_len: Positive
    inputs: Inputs = "codes"
    code_dim: NonNegative = 0  # the tokenizer's embedding_dim (codes only)
    vocab_size: NonNegative = 0  # the tokenizer's num_embeddings (codes only)
    group: Positive = 1
    id_embedding: bool = False
    d_model: Positive = 64
    n_heads: Positive = 4
    d_ff: Positive = 256
    n_layers: Positive = 2
    dropout: Dropout = 0.2
    stats_hidden: Positive = 512
    stats_dropout: Dropout = 0.2

    def __post_init__(self) -> None:
        check_fields(self)
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
            if not ok:
                raise ConfigError(name, f"{name} must be {allowed}, got {getattr(self, name)!r}")

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

    n_epochs: Positive = 10
    batch_size: Positive = 128
    lr: Rate = 1e-3
    weight_decay: Decay = 1e-4
    amp: bool = False  # bf16 measured slower than fp32 for this model on a CPU (docs/forecast.md)
    patience: Positive = 3
    grad_clip: Rate = 1.0
    loss: Loss = "smoothl1"
    seed: Seed = 2021
    max_steps_per_epoch: MaybePositive = None
    threads: MaybePositive = None
    device: Annotated[
        str, Bound(f"one of {', '.join(DEVICES)} or a torch device name", lambda v: bool(v))
    ] = "auto"
    resume: bool = False

    def __post_init__(self) -> None:
        check_fields(self)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# Settings that shape a training run's trajectory: --resume continues only a run with the same.
TRAJECTORY = tuple(
    f.name for f in fields(FitConfig) if f.name not in ("threads", "device", "resume")
)
