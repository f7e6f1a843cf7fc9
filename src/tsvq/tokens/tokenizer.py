"""Tokenizer: series in original units <-> discrete codes, with the statistics to go back.

Encoding follows the training path and stops at the codes: the training scaler, then RevIN per
window and channel, then the encoder and the nearest codebook vector. Decoding looks the codes
up, runs the decoder and undoes RevIN and the scaler with the statistics returned on the way in.

A `Tokenizer` loads from a training checkpoint (`.pth`) or from a folder in the Hugging Face
convention (`config.json` + `model.safetensors`, written by `tsvq export` or `save_pretrained`);
`save_pretrained` writes such a folder, `push_to_hub` uploads it and a Hub repo id loads one
(through `huggingface_hub`).
"""

from __future__ import annotations

import hashlib
import json
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from huggingface_hub import HfApi, constants, hf_hub_download
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from tsvq import trust
from tsvq.data.windows import DataSpec, Scaler, refit_scaler
from tsvq.errors import TsvqError, one_line
from tsvq.model.memory import check_fits
from tsvq.model.revin import RevinStats, normalize
from tsvq.model.vqvae import VQVAE, ModelConfig
from tsvq.reach import hub_unreachable, not_there
from tsvq.run import checkpoint
from tsvq.runtime.device import pick_device
from tsvq.tokens.gaps import MISSING, EmptySeries, fill_linear, token_mask
from tsvq.tokens.inputs import (
    as_int_array,
    check_codes,
    check_scaler,
    check_stats,
    check_windows,
    in_range,
)
from tsvq.tokens.units import original_units

# What an exported folder keeps of the training data's description (`TrainedOn`): enough to read
# the same channels of a file and scale them as in training; no machine-specific paths.
DATA_KEYS = ("dset", "features", "target", "channel", "columns", "scaler")
# Series (window x channel) per forward pass by default: small passes stay in cache and are
# fastest on a CPU; memory grows with the pass, not with the input.
SERIES_PER_PASS = 512
_REPO_ID = re.compile(r"^[\w.-]+/[\w.-]+$")  # owner/name on the Hugging Face Hub
# Tensor names in model.safetensors: the model's own, under "model." as exports always had them.
WEIGHTS_PREFIX = "model."
# model.safetensors' metadata key for trust.seal of config.json and of every tensor
DIGEST_KEY = "tsvq_digest"


@dataclass
class Encoded:
    """Codes of B windows and the statistics that map them back to original units.

    `mean` and `std` are the statistics each window was normalized with, in scaled units (after
    `scaler`): its own RevIN statistics, or those given to `encode`; a model trained without
    RevIN gives zeros and ones, for which undoing RevIN changes nothing. `mask` is set by
    `encode(missing="interpolate")` and is True for tokens whose steps include a filled value.
    """

    codes: np.ndarray  # [B, C, n_tokens] int64, n_tokens = T / compression_factor
    mean: np.ndarray  # [B, C] float32
    std: np.ndarray  # [B, C] float32
    scaler: Scaler  # x_scaled = (x - shift) / scale per channel (identity for foreign columns)
    mask: np.ndarray | None = None  # [B, C, n_tokens] bool: token touched a filled gap
    columns: list[str] | None = None  # the channels' names

    def __len__(self) -> int:
        return self.codes.shape[0]


@dataclass(frozen=True, eq=False)
class TrainedOn:
    """The training data as a tokenizer knows it: the dataset, which of its channels (features,
    target, channel), their names and the scaler fitted on their training rows."""

    dset: str
    features: str
    target: str
    channel: int | None
    columns: tuple[str, ...]
    scaler: Scaler

    def __post_init__(self) -> None:
        # the choices as a training run's DataSpec checks them (paths play no part here)
        DataSpec(self.dset, None, None, 1, "none", self.features, self.target, self.channel)
        if not all(isinstance(c, str) for c in self.columns):
            raise TsvqError(f"columns must be names, got {list(self.columns)!r}")
        if not len(self.scaler.shift) == len(self.scaler.scale) == len(self.columns):
            raise TsvqError(
                f"{len(self.columns)} column(s) but scaler statistics for "
                f"{len(self.scaler.shift)}; the file is damaged"
            )

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainedOn:
        if not isinstance(d, dict):
            raise TsvqError(f"data is {type(d).__name__}, expected a dict")
        missing = [k for k in DATA_KEYS if k not in d]
        if missing:
            raise TsvqError(f"lacks data field(s) {', '.join(missing)}")
        if not isinstance(d["columns"], list | tuple) or not d["columns"]:
            raise TsvqError(f"data['columns'] is {d['columns']!r}, expected the channels' names")
        problem = trust.scaler_problem(d["scaler"])
        if problem:
            raise TsvqError(f"data['scaler'] {problem}; the file is damaged")
        if d["channel"] is not None and len(d["columns"]) != 1:
            raise TsvqError(
                f"data['channel'] is {d['channel']!r} but data['columns'] names "
                f"{len(d['columns'])} channels; a run on one channel has one"
            )
        return cls(
            d["dset"],
            d["features"],
            d["target"],
            d["channel"],
            tuple(str(c) for c in d["columns"]),
            Scaler.from_dict(d["scaler"]),
        )

    def __eq__(self, other: object) -> bool:  # the scaler's arrays compare element by element
        return isinstance(other, TrainedOn) and self.to_dict() == other.to_dict()

    __hash__ = object.__hash__

    def to_dict(self) -> dict[str, Any]:
        return {
            "dset": self.dset,
            "features": self.features,
            "target": self.target,
            "channel": self.channel,
            "columns": list(self.columns),
            "scaler": self.scaler.to_dict(),
        }


class Tokenizer:
    """A trained VQ-VAE as a tokenizer: `encode` [B, T, C] -> codes, `decode` codes -> [B, T, C].

    Build one with `Tokenizer.from_pretrained(path)`. It holds the model (`model`, a `VQVAE`),
    `cfg` (its `ModelConfig`) and `data` (the training data's description, `TrainedOn`); it is
    not itself a torch module, so nothing of `nn.Module` (training mode, parameters, hooks)
    stands between a user and the two calls that matter. `tok(x)` is `tok.encode(x)`, as a text
    tokenizer's call encodes.
    """

    def __init__(
        self, model: dict | ModelConfig, data: dict | TrainedOn, run: dict | None = None
    ) -> None:
        # What is known of the training run: its epoch, 0-based (exported along, may be absent).
        self.run = _run_fields(run)
        # The full run record when loaded from a checkpoint (paths included); never exported.
        self.record: checkpoint.RunRecord | None = None
        self.cfg = _model_config(model)
        try:
            self.data = data if isinstance(data, TrainedOn) else TrainedOn.from_dict(data)
        except TsvqError as exc:
            raise TsvqError(f"tokenizer configuration: {exc}") from None
        self.model = VQVAE(self.cfg).eval()

    @property
    def columns(self) -> list[str]:
        """The training channels' names."""
        return list(self.data.columns)

    @property
    def scaler(self) -> Scaler:
        """The scaler fitted on the training channels' training rows."""
        return self.data.scaler

    def __call__(self, x: np.ndarray | torch.Tensor, **kwargs: Any) -> Encoded:
        """`encode(x, ...)`."""
        return self.encode(x, **kwargs)

    def __repr__(self) -> str:
        c = self.cfg
        return (
            f"Tokenizer({self.data.dset}, {self.n_channels} channel(s), T="
            f"{c.context_points}, patch {c.patch_size}, {c.compression_factor} steps per "
            f"token, {c.num_embeddings} codes, revin={c.revin}, device={self.device})"
        )

    def to(self, device: str | torch.device) -> Tokenizer:
        """Run encode and decode on `device` ("cpu", "cuda", "cuda:1", "auto"); returns self."""
        try:
            where = pick_device(str(device))
        except RuntimeError:
            raise TsvqError(
                f"device={str(device)!r} is not a device torch knows; use 'cpu', "
                "'cuda', 'cuda:N' or 'auto'"
            ) from None
        self.model.to(where)
        return self

    # ---- loading and saving --------------------------------------------------------------

    @classmethod
    def from_pretrained(
        cls, path: str | Path, *, device: str | torch.device = "cpu", **hub_kwargs: Any
    ) -> Tokenizer:
        """Load a training checkpoint (`.pth`), an exported folder, or a Hub repo id.

        `device`: where encode and decode run ("cpu", "cuda", "cuda:1", "auto").
        `hub_kwargs` (revision, token, cache_dir, force_download, local_files_only) go to
        `huggingface_hub.hf_hub_download` for a repo id.
        """
        p = Path(path)
        if p.is_file():
            tok = cls._from_checkpoint(p)
        elif p.is_dir():
            tok = cls._from_folder(p)
        elif _REPO_ID.match(str(path)) and p.suffix not in (".pth", ".pt"):
            tok = cls._from_hub(str(path), hub_kwargs)
        else:
            raise TsvqError(
                f"{not_there('tokenizer', path)} (expected a training checkpoint .pth, a folder "
                "written by `tsvq export`, or a Hugging Face Hub repo id)"
            )
        return tok.to(device)

    def save_pretrained(self, folder: str | Path) -> Path:
        """Write `config.json`, `model.safetensors` and a `README.md` model card into `folder`
        (created if needed) as the Hugging Face convention has them; returns the folder.
        `tsvq export` writes the same files atomically (all or nothing)."""
        out = Path(folder)
        out.mkdir(parents=True, exist_ok=True)
        config = {"model": self.cfg.to_dict(), "data": self.data.to_dict(), "run": self.run}
        text = json.dumps(config, sort_keys=True, indent=2)
        (out / constants.CONFIG_NAME).write_text(text, encoding="utf-8")
        weights = {
            f"{WEIGHTS_PREFIX}{k}": v.detach().cpu().contiguous()
            for k, v in self.model.state_dict().items()
        }
        # a digest of each field of config.json (as it reads back) and of each tensor, so that
        # an edit to either is named when the folder is loaded (see `_unsealed`)
        sealed = trust.seal(
            {constants.CONFIG_NAME: json.loads(text), constants.SAFETENSORS_SINGLE_FILE: weights}
        )
        save_file(
            weights,
            str(out / constants.SAFETENSORS_SINGLE_FILE),
            metadata={DIGEST_KEY: json.dumps(sealed)},
        )
        (out / "README.md").write_text(model_card(self), encoding="utf-8")
        return out

    def push_to_hub(
        self,
        repo_id: str,
        *,
        token: str | None = None,
        private: bool | None = None,
        revision: str | None = None,
        commit_message: str = "Upload tsvq tokenizer",
    ) -> str:
        """Upload the `save_pretrained` files to Hub repo `repo_id` (created if needed);
        returns the commit's URL."""
        api = HfApi(token=token)
        api.create_repo(repo_id, private=private, exist_ok=True)
        with tempfile.TemporaryDirectory() as tmp:
            self.save_pretrained(tmp)
            info = api.upload_folder(
                repo_id=repo_id, folder_path=tmp, revision=revision, commit_message=commit_message
            )
        return str(getattr(info, "commit_url", info))

    @classmethod
    def _from_checkpoint(cls, path: Path) -> Tokenizer:
        record = checkpoint.load_run(path)  # tsvq's run record, or the original's checkpoint
        spec, scaler, columns = record.data.spec, record.data.scaler, record.data.columns
        if scaler is None:  # the original script's checkpoint: refit as its loader fitted it
            scaler, columns = refit_scaler(spec)
        data = TrainedOn(
            spec.dset, spec.features, spec.target, spec.channel, tuple(columns), scaler
        )
        # the record's config and state are checked against each other by load_run already
        tok = cls._build(record.model, data, path, {"epoch": record.epoch})
        tok.record = record
        tok.model.load_state_dict(record.state, strict=True)
        return tok

    @classmethod
    def _from_folder(cls, folder: Path, where: str | None = None) -> Tokenizer:
        """A folder holding config.json and model.safetensors; `where` names it in messages
        (a Hub repo id for a downloaded one)."""
        where = where or str(folder)
        config = folder / constants.CONFIG_NAME
        if not config.is_file():
            runs = sorted(p.name for p in folder.glob("*.pth"))
            hint = f"; to load a training run give its checkpoint, e.g. {runs[0]}" if runs else ""
            raise TsvqError(
                f"{where} is not a tokenizer folder: it has no {config.name} (write "
                f"one with `tsvq export`){hint}"
            )
        try:
            fields = json.loads(config.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise TsvqError(f"cannot read {config}: {one_line(exc)}") from None
        if not isinstance(fields, dict) or not {"model", "data"} <= fields.keys():
            raise TsvqError(
                f"{config} is not a tsvq tokenizer configuration: it needs 'model' "
                "and 'data' (as `tsvq export` writes)"
            )
        tok = cls._build(fields["model"], fields["data"], where, fields.get("run"))
        weights = folder / constants.SAFETENSORS_SINGLE_FILE
        if not weights.is_file():
            raise TsvqError(f"tokenizer folder {where} lacks {weights.name}")
        tensors, metadata = _read_safetensors(weights)
        tok._load_weights(weights, tensors)
        problem = _unsealed(weights, tensors, metadata, fields)
        if problem:
            raise TsvqError(
                f"tokenizer folder {where}: {problem} after tsvq wrote the folder (it does "
                f"not match the digest in the metadata of {weights.name}); if that was on "
                f"purpose, save {weights.name} again without metadata and the folder is read "
                "with its field checks alone"
            )
        return tok

    def _load_weights(self, weights: Path, saved: dict[str, torch.Tensor]) -> None:
        """The model's tensors as read from `weights`, strictly: a missing, extra or misshapen
        tensor is an error naming it, never a silently untrained layer."""
        state = {k.removeprefix(WEIGHTS_PREFIX): v for k, v in saved.items()}
        own = self.model.state_dict()
        wrong = [
            f"{k} has shape {tuple(v.shape)}, the configuration needs {tuple(own[k].shape)}"
            for k, v in sorted(state.items())
            if k in own and v.shape != own[k].shape
        ]
        lacks, extra = sorted(set(own) - set(state)), sorted(set(state) - set(own))
        if lacks:
            wrong.append(f"lacks {', '.join(lacks[:4])}{' ...' if len(lacks) > 4 else ''}")
        if extra:
            wrong.append(
                f"has no place for {', '.join(extra[:4])}{' ...' if len(extra) > 4 else ''}"
            )
        if wrong:
            shown = "; ".join(wrong[:3]) + (
                f"; ... ({len(wrong)} problems)" if len(wrong) > 3 else ""
            )
            raise TsvqError(f"{weights} does not fit its config.json (size mismatch): {shown}")
        self.model.load_state_dict(state, strict=True)

    @classmethod
    def _build(cls, model: Any, data: Any, where: str | Path, run: Any = None) -> Tokenizer:
        try:
            return cls(model=model, data=data, run=run)
        except TsvqError as exc:
            raise TsvqError(f"{where}: {exc}") from None
        except (AttributeError, KeyError, TypeError, ValueError) as exc:
            raise TsvqError(
                f"{where}: the tokenizer configuration is damaged "
                f"({type(exc).__name__}: {one_line(exc)})"
            ) from None

    @classmethod
    def _from_hub(cls, repo_id: str, hub_kwargs: dict[str, Any]) -> Tokenizer:
        offline = (
            None if hub_kwargs.get("local_files_only") else hub_unreachable(constants.ENDPOINT)
        )
        if offline:  # only the local cache can help; no half-minute of retries
            hub_kwargs = {**hub_kwargs, "local_files_only": True}
        try:
            files = [
                Path(hf_hub_download(repo_id, name, **hub_kwargs))
                for name in (constants.CONFIG_NAME, constants.SAFETENSORS_SINGLE_FILE)
            ]
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
        return cls._from_folder(files[0].parent, where=repo_id)

    # ---- properties ----------------------------------------------------------------------

    @property
    def device(self) -> torch.device:
        return self.model.quantizer.codebook.device

    @property
    def n_channels(self) -> int:
        return len(self.columns)

    @property
    def n_tokens(self) -> int:
        """Tokens per channel of a training-length window: context_points / compression_factor.

        A window of any other length T (a multiple of patch_size) gives T / compression_factor.
        """
        return self.cfg.n_tokens

    @property
    def vocab_size(self) -> int:
        """Codes are integers in [0, vocab_size)."""
        return self.cfg.num_embeddings

    def fingerprint(self) -> str:
        """Digest of weights and scaler: tokens decode only with the model that made them."""
        h = hashlib.sha256()
        for name, tensor in sorted(self.model.state_dict().items()):
            h.update(name.encode())
            h.update(tensor.detach().cpu().contiguous().numpy().tobytes())
        h.update(self.scaler.shift.tobytes())
        h.update(self.scaler.scale.tobytes())
        return h.hexdigest()[:16]

    # ---- the codebook --------------------------------------------------------------------

    @property
    def codebook(self) -> torch.Tensor:
        """The code vectors, [num_embeddings, embedding_dim] float32 (a copy)."""
        return self.model.quantizer.codebook.detach().clone()

    def vectors(self, codes: np.ndarray | torch.Tensor) -> torch.Tensor:
        """Codes of any shape [...] -> their codebook vectors [..., embedding_dim]."""
        a = in_range(as_int_array(codes, "codes"), self.vocab_size)
        return self.model.quantizer.codebook.detach()[torch.from_numpy(a).to(self.device)]

    # ---- encode / decode -----------------------------------------------------------------

    @torch.inference_mode()
    def encode(
        self,
        x: np.ndarray | torch.Tensor,
        mean: np.ndarray | torch.Tensor | None = None,
        std: np.ndarray | torch.Tensor | None = None,
        *,
        missing: str = "error",
        columns: list[str] | None = None,
        scaler: Scaler | None = None,
        batch_size: int | None = None,
    ) -> Encoded:
        """Windows [B, T, C] (or one window [T, C]) in original units -> `Encoded`.

        T is any positive multiple of patch_size; C any number of channels (see `columns`).
        `mean`, `std` [B, C] (scaled units, as `Encoded.mean/std`): normalize with these instead
        of each window's own RevIN statistics, e.g. a forecast target on its context's scale.
        `missing="interpolate"` fills NaN/inf linearly along time and sets `Encoded.mask`.
        `columns`: the channels' names; a training column takes its training scaler, any other
        none (RevIN alone normalizes it). Without names, C equal to the training channels means
        those channels, any other C means columns of other data. `scaler` (C channels) replaces
        that choice: a column whose variance in its own units is small next to RevIN's epsilon
        (1e-5) encodes better standardized, e.g. `Scaler.fit("standard", its_training_rows)`
        (what `tsvq encode` does for columns the tokenizer does not know). Inputs go through in
        passes of about 512 training windows' worth of values (`batch_size` windows to change
        it), so a large input such as a sliding-window view is never copied whole.
        """
        x = check_windows(x, self.cfg.patch_size)  # [B, T, C]
        if missing not in MISSING:
            raise TsvqError(f"missing={missing!r} is not one of {', '.join(map(repr, MISSING))}")
        n, t, c = x.shape
        scaler, names = self.scaler_for(c, columns, scaler)
        given = mean is not None or std is not None
        if given and not self.cfg.revin:
            raise TsvqError(
                "mean= and std= normalize like RevIN, but this tokenizer was trained "
                "without RevIN: encode without them"
            )
        stats_in = check_stats(mean, std, n, c) if given else None
        k = t // self.cfg.compression_factor
        step = self._windows_per_pass(batch_size, c * t)
        codes = np.empty((n, c, k), dtype=np.int64)
        out_mean = np.zeros((n, c), dtype=np.float32)
        out_std = np.ones((n, c), dtype=np.float32)
        mask = np.zeros((n, c, k), dtype=bool) if missing == "interpolate" else None
        shift, scale = (
            torch.as_tensor(v, device=self.device) for v in (scaler.shift, scaler.scale)
        )
        for lo in range(0, n, step):
            part = self._to_device(x[lo : lo + step], lo, names, check=mask is None)  # [b, T, C]
            hi = lo + part.shape[0]
            series = ((part - shift) / scale).transpose(1, 2).reshape(-1, t)  # [b*C, T] scaled
            if mask is not None:
                series, filled = self._fill(series, lo, names)
                mask[lo:hi] = token_mask(filled, k).reshape(-1, c, k).cpu().numpy()
            if stats_in is not None:
                stats = RevinStats(
                    *(torch.from_numpy(a[lo:hi].reshape(-1, 1)).to(self.device) for a in stats_in)
                )
                xn = (series - stats.mean) / stats.std
            elif self.cfg.revin:
                xn, stats = normalize(series)
            else:
                xn, stats = series, None
            codes[lo:hi] = self.model.codes_of(xn).reshape(-1, c, k).cpu().numpy()
            if stats is not None:
                out_mean[lo:hi] = stats.mean.reshape(-1, c).cpu().numpy()
                out_std[lo:hi] = stats.std.reshape(-1, c).cpu().numpy()
        return Encoded(
            codes=codes, mean=out_mean, std=out_std, scaler=scaler, mask=mask, columns=names
        )

    @torch.inference_mode()
    def decode(
        self,
        tokens: Encoded | np.ndarray | torch.Tensor,
        mean: np.ndarray | torch.Tensor | None = None,
        std: np.ndarray | torch.Tensor | None = None,
        *,
        columns: list[str] | None = None,
        scaler: Scaler | None = None,
        batch_size: int | None = None,
    ) -> np.ndarray:
        """`Encoded` (or bare codes [B, C, n_tokens] with RevIN `mean`, `std` [B, C]) -> [B, T, C].

        T = n_tokens x compression_factor; the result is in original units. Bare codes of a
        RevIN model need the statistics of the windows they stand for (those of an `Encoded`, or
        of the context a forecast continues); a model without RevIN needs none. `columns` names
        and `scaler` describe the channels of bare codes as in `encode`.
        """
        codes: np.ndarray | torch.Tensor
        if isinstance(tokens, Encoded):
            if not all(v is None for v in (mean, std, columns, scaler)):
                raise TsvqError(
                    "pass mean, std, columns and scaler only with bare codes; an "
                    "Encoded has its own"
                )
            codes, mean, std, scaler = tokens.codes, tokens.mean, tokens.std, tokens.scaler
            columns = tokens.columns
        else:
            codes = tokens
        codes = check_codes(codes, self.cfg)  # [B, C, n_tokens]
        n, c, k = codes.shape
        scaler, _ = self.scaler_for(c, columns, scaler)
        if mean is None and std is None and not self.cfg.revin:
            mean, std = np.zeros((n, c), np.float32), np.ones((n, c), np.float32)
        elif mean is None or std is None:
            raise TsvqError(
                "bare codes of a RevIN model need mean= and std= [B, C]: the RevIN statistics of "
                "the windows they stand for (Encoded.mean and Encoded.std)"
            )
        mean, std = check_stats(mean, std, n, c)
        t = k * self.cfg.compression_factor
        step = self._windows_per_pass(batch_size, c * t)
        out = np.empty((n, t, c), dtype=np.float32)
        for lo in range(0, n, step):
            hi = min(lo + step, n)
            z = torch.from_numpy(codes[lo:hi].reshape(-1, k)).to(self.device)
            stats = RevinStats(
                *(torch.from_numpy(a[lo:hi].reshape(-1, 1)).to(self.device) for a in (mean, std))
            )
            series = self.model.decode(z, None).reshape(hi - lo, c, t)  # [b, C, T] model space
            out[lo:hi] = original_units(series, scaler, stats).transpose(1, 2).cpu().numpy()
        return out

    # ---- channels and scaling ------------------------------------------------------------

    def scaler_for(
        self, c: int, columns: list[str] | None, scaler: Scaler | None = None
    ) -> tuple[Scaler, list[str]]:
        """The scaler for C channels named `columns` and their names (see `encode`)."""
        if scaler is not None:
            own, names = self.scaler_for(c, columns)  # refuses foreign columns without RevIN
            if self.cfg.revin:
                return check_scaler(scaler, c), names
            if not (
                np.array_equal(own.shift, scaler.shift) and np.array_equal(own.scale, scaler.scale)
            ):
                raise TsvqError(
                    "this tokenizer was trained without RevIN: it scales its "
                    "training columns with its own scaler only (scaler= differs)"
                )
            return own, names
        if columns is None:
            if c == self.n_channels:
                return self.scaler, list(self.columns)
            columns = [f"x{i}" for i in range(c)]
            known: list[int | None] = [None] * c
        else:
            if isinstance(columns, str) or len(columns) != c:
                raise TsvqError(
                    f"columns must name each of the {c} channel(s) of x, got {columns!r}"
                )
            columns = [str(name) for name in columns]
            known = [self.columns.index(name) if name in self.columns else None for name in columns]
        foreign = [name for name, i in zip(columns, known, strict=True) if i is None]
        if foreign and not self.cfg.revin:
            raise TsvqError(
                f"this tokenizer was trained without RevIN, so it encodes only its training "
                f"column(s) ({describe_columns(self.columns)}) with their scaler; got "
                f"{describe_columns(foreign)} (retrain with --revin 1 to tokenize other series)"
            )
        if not foreign:
            idx = [int(i) for i in known]  # type: ignore[arg-type]
            kind = self.scaler.kind
        else:
            idx = [-1 if i is None else i for i in known]
            kind = "none" if len(foreign) == c else "mixed"
        shift = np.array([0.0 if i < 0 else self.scaler.shift[i] for i in idx], np.float32)
        scale = np.array([1.0 if i < 0 else self.scaler.scale[i] for i in idx], np.float32)
        return Scaler(kind, shift, scale), columns

    # ---- input checks --------------------------------------------------------------------

    def _windows_per_pass(self, batch_size: int | None, values_per_window: int) -> int:
        if batch_size is None:
            return max(1, SERIES_PER_PASS * self.cfg.context_points // values_per_window)
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise TsvqError(f"batch_size must be a positive integer, got {batch_size!r}")
        return batch_size

    def _to_device(
        self, part: np.ndarray | torch.Tensor, offset: int, names: list[str], check: bool
    ) -> torch.Tensor:
        if torch.is_tensor(part):
            t = part.detach().to(self.device, torch.float32)
        else:
            t = torch.from_numpy(np.ascontiguousarray(part)).to(self.device, torch.float32)
        if check:
            bad = ~torch.isfinite(t)
            if bad.any():
                b, i, ch = (int(v) for v in bad.nonzero()[0])
                raise TsvqError(
                    f"x holds {float(t[b, i, ch])} at window {offset + b}, time step {i}, channel "
                    f"{ch} ({names[ch]}); every value must be a finite number (or encode with "
                    "missing='interpolate' to fill gaps)"
                )
        return t

    def _fill(
        self, series: torch.Tensor, offset: int, names: list[str]
    ) -> tuple[torch.Tensor, torch.Tensor]:
        try:
            return fill_linear(series)
        except EmptySeries as exc:
            b, ch = divmod(exc.row, len(names))
            raise TsvqError(
                f"x has no finite value at all in window {offset + b}, channel {ch} "
                f"({names[ch]}): nothing to interpolate from"
            ) from None


def load(source: str | Path, device: str | torch.device = "cpu") -> Tokenizer:
    """The one loader every command uses: a training checkpoint, an exported folder or a Hub id."""
    return Tokenizer.from_pretrained(source, device=device)


def describe_columns(columns: list[str], at_most: int = 8) -> str:
    """Channel names for a message: the first few, then how many in all."""
    head = ", ".join(columns[:at_most])
    return head if len(columns) <= at_most else f"{head}, ... ({len(columns)} in all)"


def _read_safetensors(weights: Path) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """The tensors of a safetensors file and its metadata, read once."""
    try:
        with safe_open(str(weights), framework="pt") as f:
            names = f.keys()  # safe_open is no mapping: it is not iterable
            return {k: f.get_tensor(k) for k in names}, dict(f.metadata() or {})
    except (SafetensorError, OSError, RuntimeError) as exc:
        raise TsvqError(f"cannot load {weights}: {one_line(exc)}") from None


def _unsealed(
    weights: Path,
    tensors: dict[str, torch.Tensor],
    metadata: dict[str, str],
    config: dict[str, Any],
) -> str | None:
    """What differs from the digest tsvq wrote into `weights`' metadata (None: all matches, or
    no digest: a folder exported before tsvq kept one, or whose weights were saved again)."""
    sealed = metadata.get(DIGEST_KEY)
    if sealed is None:
        return None
    try:
        sealed = json.loads(sealed)
    except ValueError:
        return "the digest itself is damaged (not JSON)"
    return trust.unsealed({constants.CONFIG_NAME: config, weights.name: tensors}, sealed)


def _run_fields(run: Any) -> dict[str, int]:
    """What is known of the training run: {"epoch": 0-based} or nothing."""
    if run is None or isinstance(run, dict) and run.get("epoch") is None:
        return {}
    if not isinstance(run, dict) or not trust.is_kind(run["epoch"], (int,)) or run["epoch"] < 0:
        raise TsvqError(
            f"tokenizer configuration: run is {run!r}, expected {{'epoch': an integer >= 0}}"
        )
    return {"epoch": run["epoch"]}


def _model_config(fields: dict | ModelConfig) -> ModelConfig:
    if isinstance(fields, ModelConfig):  # made and checked already (a checkpoint's record)
        return fields
    known = set(ModelConfig.__dataclass_fields__)
    unknown = sorted(set(fields) - known, key=repr) if isinstance(fields, dict) else []
    if unknown:
        raise TsvqError(
            f"tokenizer configuration has unknown model field(s) {', '.join(map(str, unknown))}; "
            "it was written by another version of tsvq"
        )
    # the types here (a bool is no int, a float finite); ModelConfig checks the values itself
    cfg = trust.typed(ModelConfig, fields, "tokenizer configuration: model", trust.ARCHITECTURE)
    check_fits(cfg, 1, training=False, where="tokenizer configuration: ")
    return cfg


def model_card(tok: Tokenizer) -> str:
    """README.md of an exported folder: what the tokenizer is and how to load it."""
    c, d = tok.cfg, tok.data
    epoch = tok.run.get("epoch")
    trained = f"{d.dset} ({describe_columns(tok.columns)}; features {d.features}"
    trained += f", channel {d.channel})" if d.channel is not None else ")"
    return "\n".join(
        [
            "---",
            "library_name: tsvq",
            "tags:",
            "- time-series",
            "- tokenizer",
            "- vq-vae",
            "---",
            "",
            "# tsvq tokenizer",
            "",
            f"A VQ-VAE tokenizer for time series trained with tsvq on {trained}"
            + (f", best epoch {epoch + 1}." if epoch is not None else "."),
            "",
            f"- windows of {c.context_points} steps (any multiple of {c.patch_size} encodes), "
            f"patches of {c.patch_size}, one token per {c.compression_factor} steps",
            f"- {c.num_embeddings} codes of dimension {c.embedding_dim}; RevIN "
            f"{'on' if c.revin else 'off'}; scaler {tok.scaler.kind}",
            f"- fingerprint {tok.fingerprint()} (tokens files name the tokenizer that wrote them)",
            "",
            "```python",
            "from tsvq import Tokenizer",
            "",
            'tok = Tokenizer.from_pretrained("THIS_FOLDER_OR_REPO")',
            "enc = tok.encode(x)      # x: [B, T, C] in original units -> enc.codes [B, C, T / "
            f"{c.compression_factor}]",
            "x_hat = tok.decode(enc)  # back to [B, T, C] in original units",
            "```",
            "",
            "`config.json` holds the model's configuration and the training data's description "
            "(channels, scaler); `model.safetensors` the weights.",
            "",
        ]
    )
