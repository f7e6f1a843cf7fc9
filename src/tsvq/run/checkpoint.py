"""The run record: one typed definition, one writer, one reader; output paths and naming.

A checkpoint is the original script's dict, so code written for the original loads it:
`model_state_dict` (TOTEM's key names, see `totem`), `config` (the nine keys TOTEM's `vqvae`
is built from), `args` (the flags), `epoch` (0-based), `train_loss`, `val_loss`. tsvq's own
record sits beside them under the key `tsvq`: the full model configuration, the data
description with the fitted scaler, the training settings, the quantizer's counters and EMA
statistics, and (in `_last.pth`) the state that `--resume` continues from.

`load_run` also reads a checkpoint that the original `vqvae_train.py` wrote: its `args` name
the dataset and window, and the scaler is refitted on the training split as the original's
data loader fitted it (`DataRecord.scaler` is None until then).
"""

from __future__ import annotations

import json
import pickle
import re
import warnings
import zipfile
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import torch

from tsvq import trust
from tsvq.config import TrainConfig
from tsvq.data.registry import CUSTOM, split_rule
from tsvq.data.windows import DataSpec, Scaler
from tsvq.errors import TsvqError, one_line
from tsvq.files import write_json, write_text, write_with
from tsvq.model.memory import check_fits
from tsvq.model.vqvae import VQVAE, ModelConfig
from tsvq.reach import not_there
from tsvq.run.totem_names import ORIGINAL_CONFIG_KEYS, join_state, original_config, split_state

FORMAT = "tsvq-run"
FORMAT_VERSION = 2
DIGEST = "digest"  # tsvq[DIGEST]: trust.seal of the file, written since issue 12; optional in v2
OLD_FORMAT = "tsvq-checkpoint"  # tsvq 0.1's layout, before the run record (and, mostly, before
# the model computed TOTEM's exact function)
REQUIRED_KEYS = ("model_state_dict", "config", "args", "epoch", "train_loss", "val_loss")


def model_name(
    context_points: int,
    patch_size: int,
    embedding_dim: int,
    compression_factor: int,
    num_embeddings: int,
    model_id: int,
) -> str:
    """The specification's model name."""
    return (
        f"vqvae_cw{context_points}_ps{patch_size}_ed{embedding_dim}"
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


@dataclass(frozen=True)
class DataRecord:
    """What a model was trained on: the data description, its channels and fitted scaler."""

    spec: DataSpec
    scaler: Scaler | None  # None: refit on the training split (a checkpoint of the original)
    columns: tuple[str, ...] = ()  # the channels trained on, in order ("" unknown)
    n_channels: int = 1  # channels the features flag selects (the original's `n_channels`)
    split_rule: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            **asdict(self.spec),
            "scaler": self.scaler.to_dict() if self.scaler else None,
            "columns": list(self.columns),
            "n_channels": self.n_channels,
            "split_rule": dict(self.split_rule),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> DataRecord:
        spec_keys = {f.name for f in fields(DataSpec)}
        spec = {k: v for k, v in d.items() if k in spec_keys}
        scaler = d.get("scaler")
        spec["scaler"] = scaler["kind"] if scaler else d.get("scaler_kind", "standard")
        return cls(
            DataSpec(**spec),
            Scaler.from_dict(scaler) if scaler else None,
            tuple(d.get("columns") or ()),
            int(d.get("n_channels", 1)),
            dict(d.get("split_rule") or {}),
        )


@dataclass
class ResumeState:
    """What `--resume` continues from (only in `_last.pth`)."""

    optimizer: dict[str, Any]
    scheduler: dict[str, Any]
    grad_scaler: dict[str, Any]
    rng_state: torch.Tensor
    history: list[dict[str, float]]
    best_val: float
    best_epoch: int  # 1-based epoch number of the best model, 0 before any
    since_best: int
    cuda_rng_state: torch.Tensor | None = None


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
    origin: str = "tsvq"  # "tsvq", or "original" for a checkpoint of the original script
    resume: ResumeState | None = None

    def build_model(self, device: str | torch.device = "cpu") -> VQVAE:
        """The trained model, in eval mode."""
        model = VQVAE(self.model)
        model.load_state_dict(self.state)
        return model.to(device).eval()


# ---- writing --------------------------------------------------------------------------------


def payload(record: RunRecord, model: VQVAE) -> dict[str, Any]:
    """The checkpoint dict for `record`, with `model`'s weights."""
    totem, rest = split_state(model)
    own: dict[str, Any] = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "model": record.model.to_dict(),
        "data": record.data.to_dict(),
        "train": asdict(record.train),
        "state": rest,
    }
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
    own[DIGEST] = trust.seal(_sealed_part(out))
    return out


def save_run(path: str | Path, record: RunRecord, model: VQVAE) -> None:
    """Write a run record and `model`'s weights atomically."""
    save(path, payload(record, model))


def write_configs(paths: RunPaths, record: RunRecord) -> None:
    """`_config.json` exactly as the original writes it, and tsvq's full `_run.json` beside it."""
    config = original_config(record.model, record.data.n_channels)
    write_text(paths.config, json.dumps(config, indent=4))  # the original's json.dump(config)
    write_json(paths.run, run_json(record))


def run_json(record: RunRecord) -> dict[str, Any]:
    """The run's settings as JSON (what `_run.json` holds): model, data, training, flags."""
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "model": record.model.to_dict(),
        "data": record.data.to_dict(),
        "train": asdict(record.train),
        "args": _jsonable(record.args),
    }


def _jsonable(d: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in d.items() if isinstance(v, str | int | float | bool | type(None))}


def save(path: str | Path, obj: dict[str, Any]) -> None:
    """Write a checkpoint dict atomically (temporary name, fsync, rename)."""
    write_with(path, lambda tmp: torch.save(obj, tmp))


# ---- reading --------------------------------------------------------------------------------


def load_run(path: str | Path) -> RunRecord:
    """Read a checkpoint of tsvq or of the original script into a `RunRecord`."""
    p = Path(path)
    raw = load(p)
    own = raw.get("tsvq")
    if "tsvq" in raw:  # the original script never writes this key
        if not isinstance(own, dict) or own.get("format") != FORMAT:
            got = own.get("format") if isinstance(own, dict) else type(own).__name__
            raise TsvqError(f"checkpoint {p}: tsvq['format'] is {got!r}, expected {FORMAT!r}")
        if own.get("format_version") != FORMAT_VERSION:
            raise TsvqError(
                f"checkpoint {p} has run-record version "
                f"{own.get('format_version')!r}; this tsvq reads {FORMAT_VERSION}"
            )
        return _tsvq_record(p, raw, own)
    if isinstance(raw.get("args"), dict) and raw["args"].get("command") == "train":
        raise TsvqError(
            f"checkpoint {p} lacks 'tsvq', the run record tsvq writes beside the "
            "original's keys, though its args say tsvq trained it"
        )
    if raw.get("format") == OLD_FORMAT:
        raise TsvqError(
            f"checkpoint {p} was written by tsvq 0.1 (format {OLD_FORMAT!r}), which kept no run "
            "record (and whose model, in most of its files, was two ReLUs away from TOTEM's "
            "function); it cannot be read as this tsvq's: train it again with this tsvq"
        )
    return _original_record(p, raw)


def _field(p: Path, d: Any, key: str, kind: type | tuple[type, ...], where: str) -> Any:
    if not isinstance(d, dict) or key not in d:
        raise TsvqError(f"checkpoint {p}: {where} lacks {key!r}")
    value = d[key]
    if not trust.is_kind(value, _tuple(kind)):
        got = value if isinstance(value, float) else type(value).__name__
        raise TsvqError(f"checkpoint {p}: {where}[{key!r}] is {got}, expected {_names(kind)}")
    return value


def _tuple(kind: type | tuple[type, ...]) -> tuple[type, ...]:
    return kind if isinstance(kind, tuple) else (kind,)


def _names(kind: type | tuple[type, ...]) -> str:
    return " or ".join(k.__name__ for k in _tuple(kind))


def _tsvq_record(p: Path, raw: dict[str, Any], own: dict[str, Any]) -> RunRecord:
    where = f"checkpoint {p}: "
    model_cfg = trust.typed(ModelConfig, own.get("model"), f"{where}tsvq.model", trust.ARCHITECTURE)
    data = _data_record(p, _field(p, own, "data", dict, "tsvq"), model_cfg)
    train = trust.typed(TrainConfig, own.get("train"), f"{where}tsvq.train")
    config = _field(p, raw, "config", dict, "the checkpoint")
    expected = original_config(model_cfg, data.n_channels)
    differ = [k for k in expected if not _same(config.get(k), expected[k])]
    if differ:
        k = differ[0]
        raise TsvqError(
            f"checkpoint {p}: config[{k!r}] is {config.get(k)!r} but the run record "
            f"says {expected[k]!r}; the file was edited or mixed from two runs"
        )
    model = _model_or_error(p, model_cfg)
    rest = _field(p, own, "state", dict, "tsvq")
    try:
        state = join_state(model, _field(p, raw, "model_state_dict", dict, "the checkpoint"), rest)
    except ValueError as exc:
        raise TsvqError(f"checkpoint {p}: {exc}") from None
    resume = None
    if "resume" in own:
        resume = trust.typed(ResumeState, own["resume"], f"{where}tsvq.resume")
    args = _field(p, raw, "args", dict, "the checkpoint")
    # the record resolves data_path to the file read; the flag keeps what was typed
    spec = {k: v for k, v in asdict(data.spec).items() if k != "data_path"}
    _agree(
        p, args, {"tsvq.model": model_cfg.to_dict(), "tsvq.data": spec, "tsvq.train": asdict(train)}
    )
    record = RunRecord(
        model_cfg,
        data,
        train,
        dict(args),
        _epoch(p, raw),
        _loss(p, raw, "train"),
        _loss(p, raw, "val"),
        state,
        "tsvq",
        resume,
    )
    _check_digest(p, raw, own)
    return record


# what tsvq.data holds besides the DataSpec fields (whose `scaler` is the fitted scaler here)
_DATA_EXTRA = ("columns", "n_channels", "split_rule")


def _data_record(p: Path, d: dict[str, Any], model: ModelConfig) -> DataRecord:
    """tsvq.data, each field checked: types, the scaler, and agreement with the model."""
    where = f"checkpoint {p}: tsvq.data"
    names = [f.name for f in fields(DataSpec)]
    unknown = sorted(set(d) - {*names, *_DATA_EXTRA}, key=repr)
    missing = [k for k in (*names, *_DATA_EXTRA) if k not in d]
    if unknown or missing:
        what = (
            f"has unknown field(s) {', '.join(map(str, unknown))}"
            if unknown
            else f"lacks {', '.join(missing)}"
        )
        raise TsvqError(f"{where} {what}")
    columns = _field(p, d, "columns", (list, tuple), "tsvq.data")
    if not all(isinstance(c, str) for c in columns):
        raise TsvqError(f"{where}['columns'] must be a list of column names (strings)")
    n_vars = _field(p, d, "n_channels", int, "tsvq.data")
    problem = trust.scaler_problem(d["scaler"], len(columns))
    if problem:
        raise TsvqError(f"{where}['scaler'] {problem}")
    spec = trust.typed(DataSpec, {**{k: d[k] for k in names}, "scaler": d["scaler"]["kind"]}, where)
    rules = {
        # (DataSpec itself checks the dataset, the scaler's kind, features and channel)
        "data_path": (
            isinstance(spec.data_path, str) or spec.dset != CUSTOM,
            "the path of the file trained on",
        ),
        "context_points": (
            spec.context_points == model.context_points,
            f"tsvq.model's context_points, {model.context_points}",
        ),
        "channel": (
            spec.channel is None or 0 <= spec.channel < n_vars,
            f"None or a channel below n_channels={n_vars}",
        ),
        "columns": (
            len(columns) == (n_vars if spec.channel is None else 1) > 0,
            f"{n_vars if spec.channel is None else 1} name(s), one per channel trained",
        ),
    }
    for key, (ok, allowed) in rules.items():
        if not ok:
            raise TsvqError(f"{where}[{key!r}] is {d[key]!r}, expected {allowed}")
    rule = _field(p, d, "split_rule", dict, "tsvq.data")
    if rule and rule != asdict(split_rule(spec.dset)):  # {}: not recorded (splits follow dset)
        raise TsvqError(
            f"{where}['split_rule'] is {rule!r}, but {spec.dset} is split by "
            f"{asdict(split_rule(spec.dset))!r}"
        )
    return DataRecord(spec, Scaler.from_dict(d["scaler"]), tuple(columns), n_vars, dict(rule))


def _agree(p: Path, args: dict[str, Any], sections: dict[str, dict[str, Any]]) -> None:
    """The flags a run was started with must equal what the record made of them."""
    for section, values in sections.items():
        for key, value in values.items():
            if key in args and not _same(args[key], value):
                raise TsvqError(
                    f"checkpoint {p}: args[{key!r}] is {args[key]!r} but {section}[{key!r}] is "
                    f"{value!r}; the file was edited or mixed from two runs"
                )


def _same(a: Any, b: Any) -> bool:
    """Equal as flag values: 1 and True are one flag value, 1 and 1.0 one number, "1" is not."""
    plain = (str, int, float, type(None))
    if (
        not isinstance(a, plain)
        or not isinstance(b, plain)
        or isinstance(a, str) != isinstance(b, str)
    ):
        return False
    return bool(a == b)


def _loss(p: Path, raw: dict[str, Any], split: str) -> float:
    return float(_field(p, raw, f"{split}_loss", (int, float), "the checkpoint"))


def _sealed_part(raw: dict[str, Any]) -> dict[str, Any]:
    """What the digest covers: the original's keys and tsvq's record, all but the digest."""
    own = {k: v for k, v in raw["tsvq"].items() if k != DIGEST}
    return {**{k: raw[k] for k in REQUIRED_KEYS}, "tsvq": own}


def _check_digest(p: Path, raw: dict[str, Any], own: dict[str, Any]) -> None:
    """A record with a digest must match it field by field; one without (written before tsvq
    kept digests) is trusted as far as the field checks go."""
    if DIGEST not in own:
        return
    problem = trust.unsealed(_sealed_part(raw), own[DIGEST])
    if problem:
        raise TsvqError(
            f"checkpoint {p}: {problem} after tsvq wrote the file (it does not match "
            f"tsvq[{DIGEST!r}]); if that was on purpose, delete tsvq[{DIGEST!r}] and the file is "
            "read with its field checks alone"
        )


def _epoch(p: Path, raw: dict[str, Any]) -> int:
    epoch = _field(p, raw, "epoch", int, "the checkpoint")
    if epoch < 0:
        raise TsvqError(f"checkpoint {p}: epoch is {epoch}, expected 0 or more")
    return epoch


def _model_or_error(p: Path, cfg: ModelConfig) -> VQVAE:
    try:
        check_fits(cfg, 1, training=False, where=f"checkpoint {p}: ")
        return VQVAE(cfg)
    except (TypeError, ValueError) as exc:
        raise TsvqError(f"checkpoint {p}: its model cannot be built: {exc}") from None


def _original_record(p: Path, raw: dict[str, Any]) -> RunRecord:
    """A checkpoint the original `vqvae_train.py` wrote: TOTEM's weights, trained on channel 0."""
    config = _field(p, raw, "config", dict, "the checkpoint")
    args = _field(p, raw, "args", dict, "the checkpoint")
    missing = [k for k in ORIGINAL_CONFIG_KEYS if k not in config]
    if missing:
        raise TsvqError(
            f"{p} is not a tsvq checkpoint nor one the original vqvae_train.py "
            f"wrote: its config lacks {', '.join(missing)}"
        )
    ints = (
        "patch_size",
        "embedding_dim",
        "num_embeddings",
        "compression_factor",
        "block_hidden_size",
        "num_residual_layers",
        "res_hidden_size",
    )
    for k in ints:
        _field(p, config, k, int, "config")
    _field(p, config, "commitment_cost", (int, float), "config")
    dset = _field(p, args, "dset", str, "args")
    context = _field(p, args, "context_points", int, "args")
    revin = _field(p, args, "revin", int, "args")
    features = _optional(p, args, "features", str, "M")
    scaler_kind = _optional(p, args, "scaler", str, "standard")
    try:  # each config checks itself when it is made
        cfg = ModelConfig(
            context_points=context,
            **{k: config[k] for k in ints},
            commitment_cost=float(config["commitment_cost"]),
            revin=bool(revin),
            quantizer="vq",
            codebook_init="uniform",
            dead_code_restart=0,
        )
        spec = DataSpec(
            dset=dset,
            root_path=None,
            data_path=None,
            context_points=context,
            scaler=scaler_kind,
            features=features,
            target="OT",
            channel=0,
        )
        train = TrainConfig(
            n_epochs=_optional(p, args, "n_epochs", int, 100),
            batch_size=_optional(p, args, "batch_size", int, 64),
            lr=float(_optional(p, args, "lr", (int, float), 1e-4)),
            weight_decay=float(_optional(p, args, "weight_decay", (int, float), 1e-4)),
            amp=bool(_optional(p, args, "amp", int, 1)),
            select_by="loss",
        )
    except (TypeError, ValueError, OverflowError) as exc:
        raise TsvqError(
            f"checkpoint {p}: its config and args describe no model tsvq can build: {exc}"
        ) from None
    model = _model_or_error(p, cfg)
    try:
        state = join_state(model, _field(p, raw, "model_state_dict", dict, "the checkpoint"), {})
    except ValueError as exc:
        raise TsvqError(f"checkpoint {p}: {exc}") from None
    _agree(p, args, {"config": {k: config[k] for k in ints + ("commitment_cost",)}})
    # The original trained the first channel of what --features selects, scaled with a
    # scaler fitted on the training split of all those channels (per channel, so refitting
    # channel 0 alone gives the same statistics).
    data = DataRecord(spec, None, (), int(config["n_channels"]))
    return RunRecord(
        cfg,
        data,
        train,
        dict(args),
        _epoch(p, raw),
        _loss(p, raw, "train"),
        _loss(p, raw, "val"),
        state,
        "original",
    )


def _optional(
    p: Path, args: dict[str, Any], key: str, kind: type | tuple[type, ...], default: Any
) -> Any:
    return _field(p, args, key, kind, "args") if key in args else default


def load(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load a checkpoint dict with `weights_only=True`: a pickle carrying code is refused.

    The file must be a whole zip archive whose parts pass their CRC-32 checks (torch does not
    check them, so a flipped bit in the weights would load silently). The weights-only
    unpickler never imports or calls anything outside torch's allow-list, so code smuggled into
    the file (a `__reduce__` payload, say) is refused, not run.
    """
    p = Path(path)
    if not p.exists():
        raise TsvqError(not_there("checkpoint", p))
    if p.is_dir():
        raise TsvqError(f"checkpoint path is a directory, expected a .pth file: {p}")
    _check_archive(p)
    try:
        with warnings.catch_warnings():  # torch warns about pickle protocols on stderr
            warnings.simplefilter("ignore")
            obj = torch.load(p, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as exc:
        raise TsvqError(_refusal(p, str(exc))) from None
    except Exception as exc:  # noqa: BLE001 - a corrupt file can fail in many ways inside torch
        raise TsvqError(f"checkpoint {p} is truncated or corrupt: {_first_sentence(exc)}") from None
    if not isinstance(obj, dict) or not any(k in obj for k in REQUIRED_KEYS):
        raise TsvqError(
            f"{p} is not a tsvq checkpoint nor one the original vqvae_train.py "
            "wrote (no model_state_dict, config, args or epoch)"
        )
    missing = [k for k in REQUIRED_KEYS if k not in obj]
    if missing:
        raise TsvqError(f"checkpoint {p} lacks {', '.join(missing)}")
    return obj


def _check_archive(p: Path) -> None:
    """Refuse a file that is not a whole zip archive; torch itself never checks the CRCs."""
    try:
        with zipfile.ZipFile(p) as archive:
            broken = archive.testzip()
    except Exception as exc:  # BadZipFile, or worse from a mangled header
        raise TsvqError(
            f"checkpoint {p} is truncated, corrupt or not a torch checkpoint "
            f"({_first_sentence(exc)})"
        ) from None
    if broken is not None:
        raise TsvqError(f"checkpoint {p} is corrupt: its part {broken!r} fails its CRC-32 check")


def _refusal(p: Path, message: str) -> str:
    """Why the weights-only unpickler refused a file, in one line."""
    found = re.search(r"GLOBAL ([\w.]+)", message)
    if found:
        return (
            f"refusing checkpoint {p}: it would import {found.group(1)}, which is not a "
            "tensor or a plain value (nothing in it was run)"
        )
    found = re.search(r"(Unsupported operand \d+)", message)
    detail = found.group(1) if found else "unpickling failed"
    return f"checkpoint {p} is corrupt or not a torch checkpoint ({detail}); nothing was run"


def _first_sentence(exc: BaseException) -> str:
    first = one_line(exc, 200).split(". ")[0]
    return first if any(c.isalpha() for c in first) else f"{type(exc).__name__} {first}"
