"""The checkpoint door: the one reader of the run record (`record` has its types and writer).

Every checkpoint is read the same way, and nothing is built before it is checked:
  load     a whole zip whose parts pass their CRC-32s, unpickled weights-only, the original's
           keys present (`torchfile.load`);
  parse    every field against its declared schema, in one pass (`checks.parse`): the
           original's keys, tsvq's record section by section, the flags agreeing with it;
  sizes    the declared sizes against free memory, then each tensor against the shape its
           configuration needs (a `VQVAE.skeleton`: nothing allocated);
  digest   the record's seal, when it has one (`trust.unsealed`);
  build    the `RunRecord`; its model is made by whoever uses it (`VQVAE.trained`).
A field that breaks its schema is named for what is wrong with it; a plausible edit that only
the digest can tell is named as changed.

A checkpoint that the original `vqvae_train.py` wrote is read too: its `args` name the dataset
and window; its scaler is refitted when used (`DataRecord.refitted`).
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch

from tsvq import trust
from tsvq.checks import at, parse
from tsvq.config import TrainConfig
from tsvq.data.record import DataRecord
from tsvq.data.registry import CUSTOM
from tsvq.data.spec import SPEC_FIELDS_SINCE_21, DataSpec
from tsvq.errors import TsvqError
from tsvq.model.memory import check_fits
from tsvq.model.vqvae import ARCHITECTURE, VQVAE, ModelConfig
from tsvq.run.record import (
    DIGEST,
    FORMAT,
    FORMAT_VERSION,
    Beside,
    Original,
    OriginalArgs,
    Own,
    ResumeState,
    RunRecord,
    payload,
    save,
    save_run,
    sealed_part,
    write_configs,
)
from tsvq.run.torchfile import REQUIRED_KEYS, load
from tsvq.run.totem_names import OriginalConfig, join_state, original_config

# Checkpoint I/O in one place: this door reads, `record`'s writer writes.
__all__ = [
    "DIGEST",
    "FORMAT",
    "FORMAT_VERSION",
    "DataRecord",
    "ResumeState",
    "RunRecord",
    "load",
    "load_run",
    "payload",
    "save",
    "save_run",
    "write_configs",
]
OLD_FORMAT = "tsvq-checkpoint"  # tsvq 0.1's layout, before the run record


def load_run(path: str | Path) -> RunRecord:
    """Read a checkpoint of tsvq or of the original script into a `RunRecord`."""
    p = Path(path)
    raw = load(p)
    w = f"checkpoint {p}: "
    top = parse(Original, {k: raw[k] for k in REQUIRED_KEYS}, f"{w}the checkpoint")
    if "tsvq" not in raw:  # the original script never writes this key
        return _original(p, raw, top)
    own = raw["tsvq"]
    if isinstance(own, dict) and own.get("format_version", FORMAT_VERSION) != FORMAT_VERSION:
        raise TsvqError(
            f"checkpoint {p} has run-record version {own.get('format_version')!r}; this tsvq "
            f"reads {FORMAT_VERSION}"
        )
    sections = parse(Own, own, f"{w}tsvq")
    model = parse(ModelConfig, sections.model, f"{w}tsvq.model", ARCHITECTURE)
    data = _data(sections.data, f"{w}tsvq.data", model)
    train = parse(TrainConfig, sections.train, f"{w}tsvq.train")
    resume = parse(ResumeState, own["resume"], f"{w}tsvq.resume") if "resume" in own else None
    config = asdict(parse(OriginalConfig, top.config, f"{w}config"))
    _agree(
        w, "config", config, original_config(model, data.n_channels), "the run record says {value}"
    )
    # the record resolves data_path to the file read; the flag keeps what was typed
    spec = {k: v for k, v in asdict(data.spec).items() if k != "data_path"}
    trained = asdict(train)
    if train.init == "pretrained":  # --init named the tokenizer, which the record keeps apart
        trained["init"] = train.init_from
    for section, values in (("model", model.to_dict()), ("data", spec), ("train", trained)):
        _agree(w, "args", top.args, values, f"tsvq.{section}[{{key}}] is {{value}}")
    state = _state(p, model, top.model_state_dict, sections.state)
    if DIGEST in own:
        _check_digest(p, raw, own[DIGEST])
    return RunRecord(model, data, train, *_head(top), state, "tsvq", resume)


def _data(d: dict[str, Any], where: str, model: ModelConfig) -> DataRecord:
    """tsvq['data']: DataSpec's fields (every one stated) and the rest beside them."""
    names = tuple(DataSpec.__dataclass_fields__)  # its `scaler` is the fitted scaler's kind
    beside = parse(Beside, {k: v for k, v in d.items() if k == "scaler" or k not in names}, where)
    spec_fields = {k: v for k, v in d.items() if k in names}
    stated = tuple(n for n in names if n not in SPEC_FIELDS_SINCE_21)  # older records lack these
    spec = parse(DataSpec, {**spec_fields, "scaler": beside.scaler.kind}, where, stated)
    t = model.context_points
    rules = (  # what the record says beside the model; DataRecord checks its own parts
        (
            "data_path",  # data given in memory (tsvq.fit) has no file, only its digest
            spec.dset != CUSTOM or spec.data_path is not None or beside.sha256 is not None,
            "the path of the file trained on (None only with the sha256 of data given in memory)",
        ),
        ("context_points", spec.context_points == t, f"tsvq.model's context_points, {t}"),
    )
    for key, ok, allowed in rules:
        if not ok:
            raise TsvqError(f"{where}[{key!r}] is {d[key]!r}, expected {allowed}")
    with at(where):
        scaler = beside.scaler.build()
        return DataRecord(
            spec,
            scaler,
            tuple(beside.columns),
            beside.n_channels,
            beside.split_rule,
            beside.sha256,
        )


def _agree(w: str, name: str, given: dict, record: dict, says: str) -> None:
    """`given` (the file's config, or the flags a run was started with) must equal what the
    record says wherever both hold a value; `says` words the record's, "{key}" "{value}"."""
    for key, value in record.items():
        if key in given and not _same(given[key], value):
            raise TsvqError(
                f"{w}{name}[{key!r}] is {given[key]!r} but "
                f"{says.format(key=repr(key), value=repr(value))}; the file was edited or "
                "mixed from two runs"
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


def _state(p: Path, cfg: ModelConfig, totem: dict, rest: dict) -> dict[str, torch.Tensor]:
    """The file's tensors under tsvq's names, once the configuration's size is known to fit
    and each tensor fits the shape it needs (no model is allocated for either)."""
    with at(f"checkpoint {p}"):
        check_fits(cfg, 1, training=False, where=f"checkpoint {p}: ")
        return join_state(VQVAE.skeleton(cfg), totem, rest)


def _check_digest(p: Path, raw: dict[str, Any], sealed: Any) -> None:
    """A record with a digest must match it field by field; one without (written before tsvq
    kept digests, or vouched for by deleting it) is read with its field checks alone."""
    problem = trust.unsealed(sealed_part(raw), sealed)
    if problem:
        raise TsvqError(
            f"checkpoint {p}: {problem} after tsvq wrote the file (it does not match "
            f"tsvq[{DIGEST!r}]); if that was on purpose, delete tsvq[{DIGEST!r}] and the file is "
            "read with its field checks alone"
        )


def _original(p: Path, raw: dict[str, Any], top: Original) -> RunRecord:
    """A checkpoint the original `vqvae_train.py` wrote: TOTEM's weights, trained on channel 0."""
    if top.args.get("command") == "train":
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
    missing = [k for k in OriginalConfig.__dataclass_fields__ if k not in top.config]
    if missing:
        raise TsvqError(
            f"{p} is not a tsvq checkpoint nor one the original vqvae_train.py "
            f"wrote: its config lacks {', '.join(missing)}"
        )
    w = f"checkpoint {p}: "
    config = parse(OriginalConfig, top.config, f"{w}config")
    args = parse(OriginalArgs, top.args, f"{w}args", other_keys=True)
    with at(f"checkpoint {p}: its config and args describe no model tsvq can build"):
        built = {k: v for k, v in asdict(config).items() if k != "n_channels"}
        model = ModelConfig(
            context_points=args.context_points,
            **{**built, "commitment_cost": float(config.commitment_cost)},
            revin=bool(args.revin),
            quantizer="vq",
            codebook_init="uniform",
            dead_code_restart=0,
        )
        spec = DataSpec(
            args.dset, None, None, args.context_points, args.scaler, args.features, "OT", 0
        )
        train = TrainConfig(
            n_epochs=args.n_epochs,
            batch_size=args.batch_size,
            lr=float(args.lr),
            weight_decay=float(args.weight_decay),
            amp=bool(args.amp),
            select_by="loss",
        )
        # The original trained the first channel of what --features selects, scaled with a
        # scaler fitted on the training split of all those channels (per channel, so refitting
        # channel 0 alone gives the same statistics).
        data = DataRecord(spec, None, (), config.n_channels)
    state = _state(p, model, top.model_state_dict, {})
    _agree(w, "args", top.args, built, "config[{key}] is {value}")
    return RunRecord(model, data, train, *_head(top), state, "original")


def _head(top: Original) -> tuple[dict[str, Any], int, float, float]:
    """The run record's args, epoch and losses, as the original's keys hold them."""
    return dict(top.args), top.epoch, top.train_loss, top.val_loss
