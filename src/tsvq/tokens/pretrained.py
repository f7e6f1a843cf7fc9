"""Where a Tokenizer comes from and goes to: a shipped name, a training checkpoint, an exported
folder, the Hub.

`read` returns a tokenizer's parts (its model, what it was trained on, what is known of its
run) from any of the three; `Tokenizer.from_pretrained` builds on it. A checkpoint goes
through the checkpoint door (`run.checkpoint`). A folder in the Hugging Face convention
(`config.json` + `model.safetensors`, written by `write`: `tsvq export` and `save_pretrained`)
has its own door, in the same order: config.json parsed against its schema (`Folder`), the
declared sizes against free memory, every tensor against the shape its configuration needs
(nothing allocated), then the digest of both files (`trust`, in model.safetensors' metadata),
and only then the model is built. A Hub repo id is downloaded into the local cache, then read
as a folder. A shipped name (`tsvq/ett`) is a folder inside tsvq, its files checked against the
packaged manifest's sha256 first (`catalog`).
"""

from __future__ import annotations

import json
import re
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import torch
from huggingface_hub import HfApi, constants, hf_hub_download
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from tsvq import trust
from tsvq.checks import NonNegative, at, parse, parse_json
from tsvq.data.gaps import Missing
from tsvq.data.record import DataRecord, ScalerFields
from tsvq.data.spec import SPEC_FIELDS_SINCE_21, DataSpec, Features
from tsvq.errors import TsvqError, one_line
from tsvq.model.memory import check_fits
from tsvq.model.vqvae import ARCHITECTURE, VQVAE, ModelConfig
from tsvq.reach import hub_unreachable, not_there
from tsvq.run import checkpoint
from tsvq.run.record import RunInfo
from tsvq.tokens import catalog

CONFIG, WEIGHTS = constants.CONFIG_NAME, constants.SAFETENSORS_SINGLE_FILE
# Tensor names in model.safetensors: the model's own, under "model." as exports always had them.
WEIGHTS_PREFIX = "model."
# model.safetensors' metadata key for trust.seal of config.json and of every tensor
DIGEST_KEY = "tsvq_digest"
_REPO_ID = re.compile(r"^[\w.-]+/[\w.-]+$")  # owner/name on the Hugging Face Hub

Parts = tuple[VQVAE, DataRecord, RunInfo]


# ---- config.json, as the folder door checks it ----------------------------------------------


@dataclass(frozen=True)
class FolderData:
    """What an exported folder keeps of the training data (`DataRecord`): enough to read the
    same channels of a file and scale them as in training; no machine-specific paths."""

    dset: str
    features: Features
    target: str
    channel: int | None
    columns: list[str]
    scaler: ScalerFields
    # how a user's own file is read (`DataSpec`'s fields of the same names; absent: the default)
    value_columns: list[str] | None = None
    exclude_columns: list[str] | None = None
    id_column: str | None = None
    timestamp_column: str | None = None
    missing: Missing = "error"


@dataclass(frozen=True)
class FolderRun:
    """What an exported folder keeps of its run: the epoch of the weights, 0-based."""

    epoch: NonNegative


@dataclass(frozen=True)
class Folder:
    """config.json: the model's configuration, its training data, and (optional) its run."""

    model: dict[str, Any]  # a ModelConfig, its architecture stated
    data: FolderData
    run: FolderRun = None  # type: ignore[assignment]  # may be absent (epoch unknown), not null


# ---- reading -------------------------------------------------------------------------------


def read(source: str | Path, hub_kwargs: dict[str, Any]) -> Parts:
    """A tokenizer's parts from a shipped name, a training checkpoint, an exported folder or a
    Hub repo id, in that order (`catalog`): a shipped name first, then a local path, then the
    Hub; a `tsvq/...` name that is neither shipped nor a local path is refused, not looked up."""
    name = str(source)
    if isinstance(source, str) and catalog.is_shipped(name):
        return from_folder(catalog.folder(name), where=name)
    p = Path(source)
    if p.is_file():
        return from_checkpoint(p)
    if p.is_dir():
        return from_folder(p)
    if isinstance(source, str) and catalog.is_reserved(name):
        raise catalog.not_shipped(name)
    if _REPO_ID.match(str(source)) and p.suffix not in (".pth", ".pt"):
        return _from_hub(str(source), hub_kwargs)
    raise TsvqError(
        f"{not_there('tokenizer', source)} (expected a training checkpoint .pth, a folder "
        "written by `tsvq export`, or a Hugging Face Hub repo id)"
    )


def from_checkpoint(path: Path) -> Parts:
    """tsvq's run record or the original's checkpoint (its scaler refitted, as it was fitted)."""
    record = checkpoint.load_run(path)
    model = VQVAE.trained(record.model, record.state)
    return model, record.data.refitted(), RunInfo(record.epoch, record.origin, str(path))


def from_folder(folder: Path, where: str | None = None) -> Parts:
    """A folder holding config.json and model.safetensors; `where` names it in messages (a Hub
    repo id for a downloaded one)."""
    where = where or str(folder)
    fields = _config(folder, where)
    if "model" in fields and isinstance(fields["model"], dict):
        unknown = sorted(set(fields["model"]) - set(ModelConfig.__dataclass_fields__), key=repr)
        if unknown:
            raise TsvqError(
                f"{where}: tokenizer configuration has unknown model field(s) "
                f"{', '.join(map(str, unknown))}; it was written by another version of tsvq"
            )
    w = f"{where}: {CONFIG}"
    config = parse(Folder, fields, w)
    cfg = parse(ModelConfig, config.model, f"{w}['model']", ARCHITECTURE)
    d = config.data
    with at(f"{w}['data']"):
        t = cfg.context_points
        spec = DataSpec(
            d.dset,
            None,
            None,
            t,
            d.scaler.kind,
            d.features,
            d.target,
            d.channel,
            tuple(d.value_columns) if d.value_columns is not None else None,
            tuple(d.exclude_columns or ()),
            d.id_column,
            d.timestamp_column,
            d.missing,
        )
        n = None if d.channel is not None else len(d.columns)
        data = DataRecord(spec, d.scaler.build(), tuple(d.columns), n)
    check_fits(cfg, 1, training=False, where=f"{w}: ")
    weights = folder / WEIGHTS
    if not weights.is_file():
        raise TsvqError(f"tokenizer folder {where} lacks {weights.name}")
    tensors, metadata = _read_safetensors(weights)
    state = _fit(weights, cfg, tensors)
    problem = _unsealed(weights, tensors, metadata, fields)
    if problem:
        raise TsvqError(
            f"tokenizer folder {where}: {problem} after tsvq wrote the folder (it does "
            f"not match the digest in the metadata of {weights.name}); if that was on "
            f"purpose, save {weights.name} again without metadata and the folder is read "
            "with its field checks alone"
        )
    epoch = config.run.epoch if config.run is not None else None
    return VQVAE.trained(cfg, state), data, RunInfo(epoch, source=where)


def _config(folder: Path, where: str) -> dict[str, Any]:
    config = folder / CONFIG
    if not config.is_file():
        runs = sorted(p.name for p in folder.glob("*.pth"))
        hint = f"; to load a training run give its checkpoint, e.g. {runs[0]}" if runs else ""
        raise TsvqError(
            f"{where} is not a tokenizer folder: it has no {config.name} (write "
            f"one with `tsvq export`){hint}"
        )
    try:
        text = config.read_text(encoding="utf-8")
    except (OSError, ValueError) as exc:
        raise TsvqError(f"cannot read {config}: {one_line(exc)}") from None
    fields = parse_json(text, str(config))  # nested beyond any tsvq file: refused, named
    if not isinstance(fields, dict) or not {"model", "data"} <= fields.keys():
        raise TsvqError(
            f"{config} is not a tsvq tokenizer configuration: it needs 'model' "
            "and 'data' (as `tsvq export` writes)"
        )
    return fields


def _read_safetensors(weights: Path) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """The tensors of a safetensors file and its metadata, read once."""
    try:
        with safe_open(str(weights), framework="pt") as f:
            names = f.keys()  # safe_open is no mapping: it is not iterable
            return {k: f.get_tensor(k) for k in names}, dict(f.metadata() or {})
    except (SafetensorError, OSError, RuntimeError) as exc:
        raise TsvqError(f"cannot load {weights}: {one_line(exc)}") from None


def _fit(weights: Path, cfg: ModelConfig, saved: dict[str, torch.Tensor]) -> dict:
    """The model's tensors as read from `weights`, against the shapes its configuration needs:
    a missing, extra or misshapen tensor is an error naming it, never an untrained layer."""
    state = {k.removeprefix(WEIGHTS_PREFIX): v for k, v in saved.items()}
    own = VQVAE.skeleton(cfg).state_dict()
    wrong = [
        f"{k} has shape {tuple(v.shape)}, the configuration needs {tuple(own[k].shape)}"
        for k, v in sorted(state.items())
        if k in own and v.shape != own[k].shape
    ]
    lacks, extra = sorted(set(own) - set(state)), sorted(set(state) - set(own))
    if lacks:
        wrong.append(f"lacks {', '.join(lacks[:4])}{' ...' if len(lacks) > 4 else ''}")
    if extra:
        wrong.append(f"has no place for {', '.join(extra[:4])}{' ...' if len(extra) > 4 else ''}")
    if wrong:
        shown = "; ".join(wrong[:3]) + (f"; ... ({len(wrong)} problems)" if len(wrong) > 3 else "")
        raise TsvqError(f"{weights} does not fit its config.json (size mismatch): {shown}")
    return state


def _unsealed(
    weights: Path, tensors: dict[str, torch.Tensor], metadata: dict[str, str], config: dict
) -> str | None:
    """What differs from the digest tsvq wrote into `weights`' metadata (None: all matches, or
    no digest: a folder exported before tsvq kept one, or whose weights were saved again)."""
    sealed = metadata.get(DIGEST_KEY)
    if sealed is None:
        return None
    try:
        sealed = parse_json(sealed, "the digest")
    except TsvqError:
        return "the digest itself is damaged (not JSON, or nested too deep)"
    return trust.unsealed({CONFIG: config, weights.name: tensors}, sealed)


def _from_hub(repo_id: str, hub_kwargs: dict[str, Any]) -> Parts:
    offline = None if hub_kwargs.get("local_files_only") else hub_unreachable(constants.ENDPOINT)
    if offline:  # only the local cache can help; no half-minute of retries
        hub_kwargs = {**hub_kwargs, "local_files_only": True}
    try:
        files = [Path(hf_hub_download(repo_id, name, **hub_kwargs)) for name in (CONFIG, WEIGHTS)]
    except Exception as exc:  # network, authentication, missing repo: all one message
        if offline:
            raise TsvqError(
                f"tokenizer not found: {repo_id} is not a local file or folder, not in the "
                f"local Hub cache, and the Hugging Face Hub is unreachable ({offline})"
            ) from None
        raise TsvqError(
            f"tokenizer not found: {repo_id} is neither a local file or folder nor "
            f"loadable from the Hugging Face Hub ({type(exc).__name__}: {one_line(exc)})"
        ) from None
    return from_folder(files[0].parent, where=repo_id)


# ---- writing -------------------------------------------------------------------------------


def write(folder: str | Path, model: VQVAE, data: DataRecord, run: RunInfo, card: str) -> Path:
    """config.json, model.safetensors (its metadata sealing both) and README.md `card` into
    `folder`, created if needed; returns the folder."""
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    config: dict[str, Any] = {"model": model.cfg.to_dict(), "data": kept(data)}
    if run.epoch is not None:
        config["run"] = {"epoch": run.epoch}
    text = json.dumps(config, sort_keys=True, indent=2)
    (out / CONFIG).write_text(text, encoding="utf-8")
    weights = {
        f"{WEIGHTS_PREFIX}{k}": v.detach().cpu().contiguous() for k, v in model.state_dict().items()
    }
    # a digest of each field of config.json (as it reads back) and of each tensor, so that
    # an edit to either is named when the folder is loaded (see `_unsealed`)
    sealed = trust.seal({CONFIG: json.loads(text), WEIGHTS: weights})
    save_file(weights, str(out / WEIGHTS), metadata={DIGEST_KEY: json.dumps(sealed)})
    (out / "README.md").write_text(card, encoding="utf-8")
    return out


def kept(data: DataRecord) -> dict[str, Any]:
    """What an exported folder keeps of a data record (`FolderData`): no paths."""
    spec, scaler = data.spec, data.scaler
    assert scaler is not None  # a tokenizer's record always has its scaler
    return {
        "dset": spec.dset,
        "features": spec.features,
        "target": spec.target,
        "channel": spec.channel,
        "columns": list(data.columns),
        "scaler": scaler.to_dict(),
        **{
            k: list(v) if isinstance(v, tuple) else v
            for k, v in asdict(spec).items()
            if k in SPEC_FIELDS_SINCE_21 and v != DEFAULT_READ[k]
        },
    }


# how a file is read by default: a folder states only what differs, so older folders match
DEFAULT_READ = {f.name: f.default for f in fields(DataSpec) if f.name in SPEC_FIELDS_SINCE_21}


def push(
    save: Callable[[str], Any],
    repo_id: str,
    *,
    token: str | None = None,
    private: bool | None = None,
    revision: str | None = None,
    commit_message: str = "Upload tsvq tokenizer",
) -> str:
    """Upload what `save(folder)` writes to Hub repo `repo_id` (created if needed); returns
    the commit's URL."""
    api = HfApi(token=token)
    api.create_repo(repo_id, private=private, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        save(tmp)
        info = api.upload_folder(
            repo_id=repo_id, folder_path=tmp, revision=revision, commit_message=commit_message
        )
    return str(getattr(info, "commit_url", info))
