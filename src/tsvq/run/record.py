"""The run record: what a checkpoint holds, typed, and where a run's files go.

A checkpoint is the original script's dict, so code written for the original loads it:
`model_state_dict` (TOTEM's key names, see `totem_names`), `config` (the nine keys TOTEM's
`vqvae` is built from), `args` (the flags), `epoch` (0-based), `train_loss`, `val_loss`.
tsvq's own record sits beside them under the key `tsvq`: the full model configuration, the
data record with the fitted scaler, the training settings, the quantizer's counters and EMA
statistics, and (in `_last.pth`) the state that `--resume` continues from, sealed by a digest
of every field (`trust.seal`). Written here; read by the checkpoint door, `checkpoint`.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

import torch

from tsvq import trust
from tsvq.checks import NonNegative, check_fields
from tsvq.config import TrainConfig
from tsvq.data.record import DataRecord, ScalerFields
from tsvq.data.windows import Features, ScalerKind
from tsvq.errors import TsvqError
from tsvq.files import write_json, write_text, write_with
from tsvq.model.vqvae import VQVAE, ModelConfig
from tsvq.run.torchfile import REQUIRED_KEYS
from tsvq.run.totem_names import original_config, split_state

FORMAT = "tsvq-run"
FORMAT_VERSION = 2
DIGEST = "digest"  # tsvq[DIGEST]: trust.seal of the file, written since issue 12; optional in v2

Origin = Literal["tsvq", "original"]  # who wrote a checkpoint: tsvq, or the original script


def model_name(
    context_points: int,
    patch_size: int,
    embedding_dim: int,
    compression_factor: int,
    num_embeddings: int,
    model_id: int,
    data: str | None = None,
) -> str:
    """The specification's model name; `data` (a custom file's stem) follows `vqvae_`, so runs
    on two files never share a name (nor a TensorBoard run)."""
    return (
        f"vqvae_{f'{data}_' if data else ''}cw{context_points}_ps{patch_size}_ed{embedding_dim}"
        f"_cf{compression_factor}_cb{num_embeddings}_model{model_id}"
    )


def check_name(name: str, what: str) -> str:
    """Refuse a name that would leave its folder: separators, parent references, NUL."""
    if not name or name in (".", "..") or any(c in name for c in "/\\\0"):
        raise TsvqError(f"{what} {name!r} must be one file name: no '/', '\\', '..' or NUL")
    return name


@dataclass(frozen=True)
class RunPaths:
    """The files of a run: `{directory}/{name}` plus the specification's suffixes."""

    directory: Path
    name: str

    def __post_init__(self) -> None:
        check_name(self.name, "the model name")

    def _p(self, suffix: str) -> Path:
        return self.directory / f"{self.name}{suffix}"

    @property
    def best(self) -> Path:
        return self._p(".pth")

    @property
    def last(self) -> Path:
        return self._p("_last.pth")

    @property
    def history(self) -> Path:
        return self._p("_history.csv")

    @property
    def config(self) -> Path:
        """The original's flat nine-key config."""
        return self._p("_config.json")

    @property
    def run(self) -> Path:
        """tsvq's full record of the run: everything needed to repeat it."""
        return self._p("_run.json")

    def all(self) -> tuple[Path, ...]:
        return (self.best, self.last, self.history, self.config, self.run)


@dataclass
class ResumeState:
    """What `--resume` continues from (only in `_last.pth`)."""

    optimizer: dict[str, Any]
    scheduler: dict[str, Any]
    grad_scaler: dict[str, Any]
    rng_state: torch.Tensor
    history: list[dict[str, float]]
    best_val: float
    best_epoch: NonNegative  # 1-based epoch number of the best model, 0 before any
    since_best: NonNegative
    cuda_rng_state: torch.Tensor | None = None


@dataclass(frozen=True)
class RunInfo:
    """What a tokenizer knows of the run that trained it, beside its data record: the epoch of
    its weights (0-based, as checkpoints count; None where the source does not say), who wrote
    the checkpoint, and where it was read from (for messages)."""

    epoch: NonNegative | None = None
    origin: Origin = "tsvq"
    source: str = ""

    def __post_init__(self) -> None:
        check_fields(self)


@dataclass
class RunRecord:
    """Everything a checkpoint holds, typed. `state` uses tsvq's own state-dict names."""

    model: ModelConfig
    data: DataRecord
    train: TrainConfig
    args: dict[str, Any]
    epoch: int  # 0-based, as the original counts
    train_loss: float
    val_loss: float
    state: dict[str, torch.Tensor]
    origin: Origin = "tsvq"
    resume: ResumeState | None = None


# ---- the file, as the checkpoint door checks it (`checks.parse`) -----------------------------


@dataclass(frozen=True)
class Original:
    """The original script's keys, which every checkpoint holds."""

    model_state_dict: dict[Any, Any]  # each tensor is checked against the configuration
    config: dict[str, Any]  # an OriginalConfig
    args: dict[str, Any]
    epoch: NonNegative
    train_loss: float
    val_loss: float


@dataclass(frozen=True)
class Own:
    """tsvq's record beside them, `tsvq`, by section."""

    format: Literal["tsvq-run"]
    format_version: Literal[2]
    model: dict[str, Any]  # a ModelConfig
    data: dict[str, Any]  # a DataRecord: DataSpec's fields, the fitted scaler beside
    train: dict[str, Any]  # a TrainConfig
    state: dict[Any, Any]  # the quantizer's buffers, under tsvq's names
    resume: dict[str, Any] | None = None  # a ResumeState (only in `_last.pth`)
    digest: dict[str, str] | None = None  # trust.seal of the rest (see `_check_digest`)


@dataclass(frozen=True)
class Beside:
    """What `tsvq['data']` holds beside DataSpec's fields."""

    scaler: ScalerFields
    columns: list[str]
    n_channels: int
    split_rule: dict[str, Any]
    sha256: str | None = None  # of the file read; optional: recorded since issue 25


@dataclass(frozen=True)
class OriginalArgs:
    """The original's flags that a checkpoint of it is read by (the rest are not used)."""

    dset: str
    context_points: int
    revin: int
    features: Features = "M"
    scaler: ScalerKind = "standard"
    n_epochs: int = 100
    batch_size: int = 64
    lr: float = 1e-4
    weight_decay: float = 1e-4
    amp: int = 1


# ---- the writer --------------------------------------------------------------------------------


def payload(record: RunRecord, model: VQVAE) -> dict[str, Any]:
    """The checkpoint dict for `record`, with `model`'s weights, sealed."""
    totem, rest = split_state(model)
    own: dict[str, Any] = {**_settings(record), "state": rest}
    if record.resume is not None:
        own["resume"] = asdict(record.resume)
    out = {
        "model_state_dict": totem,
        "config": original_config(record.model, record.data.n_channels),
        "args": dict(record.args),
        "epoch": int(record.epoch),
        "train_loss": float(record.train_loss),
        "val_loss": float(record.val_loss),
        "tsvq": own,
    }
    own[DIGEST] = trust.seal(sealed_part(out))
    return out


def _settings(record: RunRecord) -> dict[str, Any]:
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "model": record.model.to_dict(),
        "data": record.data.to_dict(),
        "train": asdict(record.train),
    }


def save_run(path: str | Path, record: RunRecord, model: VQVAE) -> None:
    """Write a run record and `model`'s weights atomically."""
    save(path, payload(record, model))


def write_configs(paths: RunPaths, record: RunRecord) -> None:
    """`_config.json` exactly as the original writes it, and tsvq's full `_run.json` beside it."""
    config = original_config(record.model, record.data.n_channels)
    write_text(paths.config, json.dumps(config, indent=4))  # the original's json.dump(config)
    plain = (str, int, float, bool, type(None))
    args = {k: v for k, v in record.args.items() if isinstance(v, plain)}
    write_json(paths.run, {**_settings(record), "args": args})


def save(path: str | Path, obj: dict[str, Any]) -> None:
    """Write a checkpoint dict atomically (temporary name, fsync, rename)."""
    write_with(path, lambda tmp: torch.save(obj, tmp))


def sealed_part(raw: dict[str, Any]) -> dict[str, Any]:
    """What the digest covers: the original's keys and tsvq's record, all but the digest."""
    own = {k: v for k, v in raw["tsvq"].items() if k != DIGEST}
    return {**{k: raw[k] for k in REQUIRED_KEYS}, "tsvq": own}
