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

from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import torch

from tsvq import trust
from tsvq.data.registry import split_rule
from tsvq.data.windows import DataSpec, Scaler
from tsvq.errors import TsvqError, one_line
from tsvq.forecast.config import FitConfig, ForecastConfig
from tsvq.forecast.model import Forecaster
from tsvq.run import checkpoint
from tsvq.run.checkpoint import DataRecord, ResumeState

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
        checkpoint.check_name(self.name, "the forecaster's name")

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
    checkpoint.save(path, raw)


def _sealed(raw: dict[str, Any]) -> dict[str, Any]:
    own = {k: v for k, v in raw[KEY].items() if k != DIGEST}
    return {**{k: raw[k] for k in checkpoint.REQUIRED_KEYS}, KEY: own}


# ---- reading --------------------------------------------------------------------------------


def load_record(path: str | Path) -> ForecastRecord:
    """Read and check a forecaster checkpoint: every field, then the digest."""
    p = Path(path)
    raw = checkpoint.load(p)  # weights-only unpickling of a whole, CRC-checked archive
    own = raw.get(KEY)
    if not isinstance(own, dict):
        what = "a tokenizer checkpoint (tsvq train)" if "tsvq" in raw else "no tsvq forecaster"
        raise TsvqError(
            f"{p} is {what}, not a forecaster checkpoint (written by tsvq forecast train)"
        )
    where = f"forecaster checkpoint {p}"
    if own.get("format") != FORMAT or own.get("format_version") != FORMAT_VERSION:
        raise TsvqError(
            f"{where}: format {own.get('format')!r} version {own.get('format_version')!r}; this "
            f"tsvq reads {FORMAT!r} version {FORMAT_VERSION}"
        )
    if DIGEST in own:
        problem = trust.unsealed(_sealed(raw), own[DIGEST])
        if problem:
            raise TsvqError(
                f"{where}: {problem} after tsvq wrote the file (it does not match "
                f"{KEY}[{DIGEST!r}]); if that was on purpose, delete {KEY}[{DIGEST!r}] and the "
                "file is read with its field checks alone"
            )
    names = [f.name for f in fields(ForecastConfig)]
    model = trust.typed(ForecastConfig, raw["config"], f"{where}: config", tuple(names))
    fit = trust.typed(FitConfig, own.get("fit"), f"{where}: {KEY}['fit']")
    resume = None
    if "resume" in own:
        resume = trust.typed(ResumeState, own["resume"], f"{where}: {KEY}['resume']")
    record = ForecastRecord(
        model,
        _data(where, own.get("data"), model),
        fit,
        _tokenizer(where, own.get("tokenizer"), model),
        _plain(where, raw, "args", dict),
        _plain(where, raw, "epoch", int),
        float(_plain(where, raw, "train_loss", (int, float))),
        float(_plain(where, raw, "val_loss", (int, float))),
        _plain(where, raw, "model_state_dict", dict),
        resume,
    )
    if record.epoch < 0:
        raise TsvqError(f"{where}: epoch is {record.epoch}, expected 0 or more")
    return record


def _plain(where: str, raw: dict[str, Any], key: str, kind: type | tuple[type, ...]) -> Any:
    value = raw[key]
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if not trust.is_kind(value, kinds):
        raise TsvqError(f"{where}: {key} is {type(value).__name__}, expected {kinds[0].__name__}")
    return value


def _data(where: str, d: Any, model: ForecastConfig) -> DataRecord:
    """The training data's description: its DataSpec fields, channels and scaler."""
    where = f"{where}: {KEY}['data']"
    spec_names = [f.name for f in fields(DataSpec)]
    extra = ("columns", "n_channels", "split_rule")
    if not isinstance(d, dict) or set(d) != {*spec_names, *extra}:
        got = sorted(d) if isinstance(d, dict) else type(d).__name__
        raise TsvqError(f"{where} must hold {', '.join((*spec_names, *extra))}; got {got}")
    columns = d["columns"]
    if not isinstance(columns, list | tuple) or not columns:
        raise TsvqError(f"{where}['columns'] must name the channels, got {columns!r}")
    if not all(isinstance(c, str) for c in columns):
        raise TsvqError(f"{where}['columns'] must be names (strings), got {columns!r}")
    problem = trust.scaler_problem(d["scaler"], len(columns))
    if problem:
        raise TsvqError(f"{where}['scaler'] {problem}")
    spec = trust.typed(
        DataSpec, {**{k: d[k] for k in spec_names}, "scaler": d["scaler"]["kind"]}, where
    )
    if spec.context_points != model.context_points:
        raise TsvqError(
            f"{where}['context_points'] is {spec.context_points}, the model's is "
            f"{model.context_points}; the file was edited or mixed from two runs"
        )
    rule = d["split_rule"]
    if rule != asdict(split_rule(spec.dset)):
        raise TsvqError(f"{where}['split_rule'] is {rule!r}; {spec.dset} is split otherwise")
    n = d["n_channels"]
    if not trust.is_kind(n, (int,)) or n < len(columns):
        raise TsvqError(f"{where}['n_channels'] is {n!r}, expected at least {len(columns)}")
    return DataRecord(spec, Scaler.from_dict(d["scaler"]), tuple(columns), n, dict(rule))


def _tokenizer(where: str, d: Any, model: ForecastConfig) -> TokenizerRef | None:
    if model.inputs == "patches" and d is None:
        return None
    if not isinstance(d, dict) or set(d) != {"fingerprint", "source"}:
        raise TsvqError(
            f"{where}: {KEY}['tokenizer'] must be {{'fingerprint', 'source'}} for a forecaster "
            f"on codes, got {d!r}"
        )
    if not all(isinstance(v, str) and v for v in d.values()):
        raise TsvqError(f"{where}: {KEY}['tokenizer'] must hold two strings, got {d!r}")
    return TokenizerRef(d["fingerprint"], d["source"])


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
