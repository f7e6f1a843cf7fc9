"""The forecaster's file: one typed record, one writer, one reader (the door that checks it).

A forecaster checkpoint is a torch file shaped as a tokenizer's is (`model_state_dict`,
`config`, `args`, `epoch` 0-based, `train_loss`, `val_loss`), with the forecaster's own record
under `forecast`: the format, the data it was trained on (dataset, channels, fitted scaler),
the training settings, the tokenizer it reads (fingerprint and where it was loaded from), in
`_last.pth` the state `--resume` continues from, and a digest of every field. It keeps no
tokenizer weights: the tokenizer is loaded from its own file and must have the recorded
fingerprint.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

import torch

from tsvq import trust
from tsvq.checks import at, parse
from tsvq.data.record import DataRecord
from tsvq.data.windows import DataSpec
from tsvq.errors import TsvqError, one_line
from tsvq.forecast.config import FitConfig, ForecastConfig
from tsvq.forecast.model import Forecaster
from tsvq.run import checkpoint
from tsvq.run.record import Beside, Original, ResumeState, check_name, save
from tsvq.run.torchfile import REQUIRED_KEYS

FORMAT = "tsvq-forecast"
FORMAT_VERSION = 1
KEY = "forecast"  # the forecaster's record in the file, beside the shared keys
DIGEST = "digest"


@dataclass(frozen=True)
class ForecastPaths:
    """A forecaster run's files: `{directory}/{name}` .pth (best), _last.pth, _history.csv."""

    directory: Path
    name: str

    def __post_init__(self) -> None:
        check_name(self.name, "the forecaster's name")

    @property
    def best(self) -> Path:
        return self.directory / f"{self.name}.pth"

    @property
    def last(self) -> Path:
        return self.directory / f"{self.name}_last.pth"

    @property
    def history(self) -> Path:
        return self.directory / f"{self.name}_history.csv"

    def all(self) -> tuple[Path, ...]:
        return (self.best, self.last, self.history)


def forecaster_name(context_points: int, horizon: int, inputs: str, model_id: int) -> str:
    return f"forecaster_{inputs}_cw{context_points}_h{horizon}_model{model_id}"


@dataclass(frozen=True)
class TokenizerRef:
    """The tokenizer a forecaster reads: its fingerprint, and where it was loaded from."""

    fingerprint: str
    source: str


@dataclass
class ForecastRecord:
    """Everything a forecaster checkpoint holds, typed."""

    model: ForecastConfig
    data: DataRecord
    fit: FitConfig
    tokenizer: TokenizerRef | None  # None for inputs="patches"
    args: dict[str, Any]
    epoch: int  # 0-based
    train_loss: float
    val_loss: float
    state: dict[str, torch.Tensor]
    resume: ResumeState | None = None


# ---- writing --------------------------------------------------------------------------------


def save_record(path: str | Path, record: ForecastRecord, model: Forecaster) -> None:
    """Write `record` with `model`'s weights atomically."""
    own: dict[str, Any] = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "data": record.data.to_dict(),
        "fit": record.fit.to_dict(),
        "tokenizer": asdict(record.tokenizer) if record.tokenizer else None,
    }
    if record.resume is not None:
        own["resume"] = asdict(record.resume)
    raw = {
        "model_state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "config": record.model.to_dict(),
        "args": dict(record.args),
        "epoch": int(record.epoch),
        "train_loss": float(record.train_loss),
        "val_loss": float(record.val_loss),
        KEY: own,
    }
    own[DIGEST] = trust.seal(_sealed(raw))
    save(path, raw)


def _sealed(raw: dict[str, Any]) -> dict[str, Any]:
    own = {k: v for k, v in raw[KEY].items() if k != DIGEST}
    return {**{k: raw[k] for k in REQUIRED_KEYS}, KEY: own}


# ---- the file, as the door checks it (`checks.parse`) ---------------------------------------


@dataclass(frozen=True)
class Own:
    """The forecaster's record beside the shared keys, `forecast`, by section."""

    format: Literal["tsvq-forecast"]
    format_version: Literal[1]
    data: dict[str, Any]  # a DataRecord: DataSpec's fields, the fitted scaler beside
    fit: dict[str, Any]  # a FitConfig
    tokenizer: TokenizerRef | None  # None for a forecaster on patches
    resume: dict[str, Any] | None = None  # a ResumeState (only in `_last.pth`)
    digest: dict[str, str] | None = None  # trust.seal of the rest


# ---- reading --------------------------------------------------------------------------------


def load_record(path: str | Path) -> ForecastRecord:
    """Read and check a forecaster checkpoint: the file, every field, then the digest."""
    p = Path(path)
    raw = checkpoint.load(p)  # weights-only unpickling of a whole, CRC-checked archive
    if not isinstance(raw.get(KEY), dict):
        what = "a tokenizer checkpoint (tsvq train)" if "tsvq" in raw else "no tsvq forecaster"
        raise TsvqError(
            f"{p} is {what}, not a forecaster checkpoint (written by tsvq forecast train)"
        )
    w = f"forecaster checkpoint {p}"
    top = parse(Original, {k: raw[k] for k in REQUIRED_KEYS}, f"{w}: the checkpoint")
    own = parse(Own, raw[KEY], f"{w}: {KEY}")
    if own.digest is not None:
        problem = trust.unsealed(_sealed(raw), own.digest)
        if problem:
            raise TsvqError(
                f"{w}: {problem} after tsvq wrote the file (it does not match "
                f"{KEY}[{DIGEST!r}]); if that was on purpose, delete {KEY}[{DIGEST!r}] and the "
                "file is read with its field checks alone"
            )
    model = parse(
        ForecastConfig, top.config, f"{w}: config", tuple(ForecastConfig.__dataclass_fields__)
    )
    if model.inputs == "codes" and own.tokenizer is None:
        raise TsvqError(f"{w}: {KEY}['tokenizer'] is None, but a forecaster on codes needs one")
    resume = None if own.resume is None else parse(ResumeState, own.resume, f"{w}: {KEY}['resume']")
    return ForecastRecord(
        model,
        _data(own.data, f"{w}: {KEY}['data']", model),
        parse(FitConfig, own.fit, f"{w}: {KEY}['fit']"),
        own.tokenizer,
        dict(top.args),
        top.epoch,
        top.train_loss,
        top.val_loss,
        top.model_state_dict,
        resume,
    )


def _data(d: dict[str, Any], where: str, model: ForecastConfig) -> DataRecord:
    """The training data's record: DataSpec's fields (every one stated), the rest beside."""
    names = tuple(DataSpec.__dataclass_fields__)  # its `scaler` is the fitted scaler's kind
    beside = parse(Beside, {k: v for k, v in d.items() if k == "scaler" or k not in names}, where)
    spec = parse(
        DataSpec,
        {**{k: v for k, v in d.items() if k in names}, "scaler": beside.scaler.kind},
        where,
        names,
    )
    if spec.context_points != model.context_points:
        raise TsvqError(
            f"{where}['context_points'] is {spec.context_points}, the model's is "
            f"{model.context_points}; the file was edited or mixed from two runs"
        )
    with at(where):  # the record checks that its parts agree
        scaler = beside.scaler.build()
        return DataRecord(spec, scaler, tuple(beside.columns), beside.n_channels, beside.split_rule)


def build(record: ForecastRecord, codebook: torch.Tensor | None, where: str | Path) -> Forecaster:
    """The recorded forecaster with its weights, strictly: a missing, extra or misshapen
    tensor is one line naming it (the first three of them)."""
    try:
        model = Forecaster(record.model, codebook)
    except ValueError as exc:
        raise TsvqError(f"forecaster checkpoint {where}: {exc}") from None
    own, state = model.state_dict(), record.state
    wrong = [
        f"{k} is {type(v).__name__}, not a tensor"
        if not torch.is_tensor(v)
        else f"{k} has shape {tuple(v.shape)}, the configuration needs {tuple(own[k].shape)}"
        for k, v in sorted(state.items(), key=lambda kv: str(kv[0]))
        if k in own and (not torch.is_tensor(v) or v.shape != own[k].shape)
    ]
    wrong += [f"lacks {k}" for k in sorted(set(own) - set(state))]
    wrong += [f"has no place for {k}" for k in sorted(set(state) - set(own), key=str)]
    if wrong:
        more = f"; ... ({len(wrong)} problems)" if len(wrong) > 3 else ""
        raise TsvqError(
            f"forecaster checkpoint {where}: its weights do not fit its config: "
            f"{'; '.join(wrong[:3])}{more}"
        )
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise TsvqError(f"forecaster checkpoint {where}: {one_line(exc)}") from None
    return model
