"""Tokenizer: series in original units <-> discrete codes, with the statistics to go back.

Encoding follows the training path and stops at the codes: the training scaler, then RevIN per
window and channel, then the encoder and the nearest codebook vector. Decoding looks the codes
up, runs the decoder and undoes RevIN and the scaler with the statistics returned on the way in.

A `Tokenizer` loads from a training checkpoint (`.pth`) or from a folder in the Hugging Face
convention (`config.json` + `model.safetensors`, written by `tsvq export` or `save_pretrained`);
`huggingface_hub`'s mixin gives it `save_pretrained`, `push_to_hub` and loading by Hub repo id.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from huggingface_hub import PyTorchModelHubMixin, constants, hf_hub_download
from safetensors import SafetensorError
from safetensors.torch import load_model
from torch import nn

from . import checkpoint
from .data import Scaler
from .errors import TsvqError
from .model import VQVAE, ModelConfig, validate
from .reach import hub_unreachable, not_there
from .revin import RevinStats

# What an exported folder keeps of the training data's description: enough to read the same
# channels of a file and scale them as in training; no machine-specific paths.
DATA_KEYS = ("dset", "features", "target", "channel", "columns", "scaler")
# Series (window x channel) per forward pass by default: small passes stay in cache and are
# fastest on a CPU; memory grows with the pass, not with the input.
SERIES_PER_PASS = 512
_REPO_ID = re.compile(r"^[\w.-]+/[\w.-]+$")  # owner/name on the Hugging Face Hub


@dataclass
class Encoded:
    """Codes of B windows and the statistics that map them back to original units.

    `mean` and `std` are RevIN's per-window statistics in scaled units (after `scaler`); a model
    trained without RevIN gives zeros and ones, for which undoing RevIN changes nothing.
    """

    codes: np.ndarray  # [B, C, n_tokens] int64
    mean: np.ndarray  # [B, C] float32
    std: np.ndarray  # [B, C] float32
    scaler: Scaler  # the training scaler: x_scaled = (x - shift) / scale per channel

    def __len__(self) -> int:
        return self.codes.shape[0]


class Tokenizer(
    nn.Module,
    PyTorchModelHubMixin,
    library_name="tsvq",
    tags=["time-series", "tokenizer", "vq-vae"],
):
    """A trained VQ-VAE as a tokenizer: `encode` [B, T, C] -> codes, `decode` codes -> [B, T, C].

    Build one with `Tokenizer.from_pretrained(path)`. `model` holds the `ModelConfig` fields and
    `data` the training data's description (`DATA_KEYS`); both go into `config.json` on export.
    """

    def __init__(self, model: dict, data: dict) -> None:
        super().__init__()
        self.cfg = _model_config(model)
        missing = [k for k in DATA_KEYS if k not in data]
        if missing:
            raise TsvqError(f"tokenizer configuration lacks data field(s) {', '.join(missing)}")
        self.data = {k: data[k] for k in DATA_KEYS}
        self.columns: list[str] = [str(c) for c in data["columns"]]
        self.scaler = Scaler.from_dict(data["scaler"])
        if not len(self.scaler.shift) == len(self.scaler.scale) == len(self.columns):
            raise TsvqError(
                f"tokenizer configuration has {len(self.columns)} column(s) but scaler statistics "
                f"for {len(self.scaler.shift)}; the file is damaged"
            )
        self.model = VQVAE(self.cfg).eval()
        # The scaler on the model's device; not saved in the weights (config.json holds it).
        self.register_buffer("shift", torch.from_numpy(self.scaler.shift), persistent=False)
        self.register_buffer("scale", torch.from_numpy(self.scaler.scale), persistent=False)

    # ---- loading -------------------------------------------------------------------------

    @classmethod
    def from_pretrained(  # type: ignore[override]
        cls, path: str | Path, *, device: str | torch.device = "cpu", **hub_kwargs: Any
    ) -> Tokenizer:
        """Load a training checkpoint (`.pth`), an exported folder, or a Hub repo id.

        `device`: where encode and decode run ("cpu", "cuda", "cuda:1", "auto").
        `hub_kwargs` (revision, token, cache_dir, ...) go to `huggingface_hub` for a repo id.
        """
        from .train import pick_device

        try:
            where = pick_device(str(device))
        except RuntimeError:
            raise TsvqError(f"device={str(device)!r} is not a device torch knows; use 'cpu', "
                            "'cuda', 'cuda:N' or 'auto'") from None
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
        return tok.to(where)

    @classmethod
    def _from_checkpoint(cls, path: Path) -> Tokenizer:
        record = checkpoint.load_run(path)
        spec, scaler, columns = record.data.spec, record.data.scaler, record.data.columns
        if scaler is None:  # the original script's checkpoint: refit as its loader fitted it
            from .evaluate import Loaded, load_split_data

            fitted = load_split_data(Loaded(record.build_model(), record, spec, None))
            scaler, columns = fitted.scaler, tuple(fitted.columns)
        data = {"dset": spec.dset, "features": spec.features, "target": spec.target,
                "channel": spec.channel, "columns": list(columns), "scaler": scaler.to_dict()}
        tok = cls._build(record.model.to_dict(), data, path)
        try:
            tok.model.load_state_dict(record.state, strict=True)
        except RuntimeError as exc:
            raise TsvqError(
                f"checkpoint {path}: the weights do not fit its configuration: "
                f"{_first_line(exc)}"
            ) from None
        return tok

    @classmethod
    def _from_folder(cls, folder: Path) -> Tokenizer:
        config = folder / constants.CONFIG_NAME
        if not config.is_file():
            runs = sorted(p.name for p in folder.glob("*.pth"))
            hint = f"; to load a training run give its checkpoint, e.g. {runs[0]}" if runs else ""
            raise TsvqError(f"{folder} is not a tokenizer folder: it has no {config.name} (write "
                            f"one with `tsvq export`){hint}")
        try:
            fields = json.loads(config.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise TsvqError(f"cannot read {config}: {_first_line(exc)}") from None
        if not isinstance(fields, dict) or not {"model", "data"} <= fields.keys():
            raise TsvqError(f"{config} is not a tsvq tokenizer configuration: it needs 'model' "
                            "and 'data' (as `tsvq export` writes)")
        return super().from_pretrained(folder)

    @classmethod
    def _build(cls, model: Any, data: Any, where: str | Path) -> Tokenizer:
        try:
            return cls(model=model, data=data)
        except TsvqError as exc:
            raise TsvqError(f"{where}: {exc}") from None
        except (AttributeError, KeyError, TypeError, ValueError) as exc:
            raise TsvqError(f"{where}: the tokenizer configuration is damaged "
                            f"({type(exc).__name__}: {_first_line(exc)})") from None

    @classmethod
    def _from_hub(cls, repo_id: str, hub_kwargs: dict[str, Any]) -> Tokenizer:
        offline = None if hub_kwargs.get("local_files_only") else hub_unreachable(
            constants.ENDPOINT)
        if offline:  # only the local cache can help; no half-minute of retries
            hub_kwargs = {**hub_kwargs, "local_files_only": True}
        try:
            return super().from_pretrained(repo_id, **hub_kwargs)
        except TsvqError:
            raise
        except Exception as exc:  # network, authentication, missing repo: all one message
            if offline:
                raise TsvqError(
                    f"tokenizer not found: {repo_id} is not a local file or folder, not in the "
                    f"local Hub cache, and the Hugging Face Hub is unreachable ({offline})"
                ) from None
            raise TsvqError(
                f"tokenizer not found: {repo_id} is neither a local file or folder nor "
                f"loadable from the Hugging Face Hub ({type(exc).__name__}: {_first_line(exc)})"
            ) from None

    @classmethod
    def _from_pretrained(  # type: ignore[override]
        cls,
        *,
        model_id: str,
        revision: str | None,
        cache_dir: str | Path | None,
        force_download: bool,
        local_files_only: bool,
        token: str | bool | None,
        **init_kwargs: Any,
    ) -> Tokenizer:
        """Folder or repo -> Tokenizer; the mixin has read config.json into `init_kwargs`.

        Replaces the mixin's loader to load the weights strictly (a missing or extra tensor is an
        error, not a silently untrained layer) and to turn every failure into a TsvqError.
        """
        if "model" not in init_kwargs or "data" not in init_kwargs:
            raise TsvqError(
                f"{model_id} is not a tsvq tokenizer folder: it needs a config.json with 'model' "
                "and 'data' (as `tsvq export` writes)"
            )
        tok = cls._build(init_kwargs["model"], init_kwargs["data"], model_id)
        weights = Path(model_id) / constants.SAFETENSORS_SINGLE_FILE
        if not Path(model_id).is_dir():
            weights = Path(hf_hub_download(
                model_id, constants.SAFETENSORS_SINGLE_FILE, revision=revision,
                cache_dir=cache_dir, force_download=force_download,
                local_files_only=local_files_only, token=token,
            ))
        if not weights.is_file():
            raise TsvqError(f"tokenizer folder {model_id} lacks {weights.name}")
        try:
            load_model(tok, str(weights), strict=True)
        except (RuntimeError, SafetensorError, OSError) as exc:
            raise TsvqError(f"cannot load {weights}: {_first_line(exc)}") from None
        return tok.eval()

    # ---- properties ----------------------------------------------------------------------

    @property
    def device(self) -> torch.device:
        return self.shift.device

    @property
    def n_channels(self) -> int:
        return len(self.columns)

    @property
    def n_tokens(self) -> int:
        """Tokens per channel of a window: context_points / compression_factor."""
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

    # ---- encode / decode -----------------------------------------------------------------

    @torch.inference_mode()
    def encode(self, x: np.ndarray | torch.Tensor, batch_size: int | None = None) -> Encoded:
        """Windows [B, T, C] (or one window [T, C]) in original units -> `Encoded`.

        T must be the model's context_points and C the training data's channels. Inputs are
        processed `batch_size` windows at a time (default: about 512 series per pass), so a
        large input such as a sliding-window view is never copied whole.
        """
        x = self._check_windows(x)  # [B, T, C]
        n, t, c = x.shape
        batch_size = self._windows_per_pass(batch_size)
        codes = np.empty((n, c, self.n_tokens), dtype=np.int64)
        mean = np.empty((n, c), dtype=np.float32)
        std = np.empty((n, c), dtype=np.float32)
        for lo in range(0, n, batch_size):
            part = self._to_device(x[lo:lo + batch_size], lo)  # [b, T, C]
            scaled = (part - self.shift) / self.scale
            series = scaled.transpose(1, 2).reshape(-1, t)  # [b*C, T]
            z, stats = self.model.encode(series)
            hi = lo + part.shape[0]
            codes[lo:hi] = z.reshape(-1, c, self.n_tokens).cpu().numpy()
            if stats is not None:
                mean[lo:hi] = stats.mean.reshape(-1, c).cpu().numpy()
                std[lo:hi] = stats.std.reshape(-1, c).cpu().numpy()
        if not self.cfg.revin:
            mean[:], std[:] = 0.0, 1.0
        return Encoded(codes=codes, mean=mean, std=std, scaler=self.scaler)

    @torch.inference_mode()
    def decode(
        self,
        tokens: Encoded | np.ndarray | torch.Tensor,
        mean: np.ndarray | torch.Tensor | None = None,
        std: np.ndarray | torch.Tensor | None = None,
        batch_size: int | None = None,
    ) -> np.ndarray:
        """`Encoded` (or bare codes [B, C, n_tokens] with RevIN `mean`, `std` [B, C]) -> [B, T, C].

        The result is in original units. Bare codes of a RevIN model need the statistics of the
        windows they stand for (those of an `Encoded`; zeros and ones give a window at the
        training data's level and spread); a model without RevIN needs none.
        """
        if isinstance(tokens, Encoded):
            if mean is not None or std is not None:
                raise TsvqError("pass mean and std only with bare codes; an Encoded has its own")
            codes, mean, std, scaler = tokens.codes, tokens.mean, tokens.std, tokens.scaler
        else:
            codes, scaler = tokens, self.scaler
        codes = self._check_codes(codes)  # [B, C, n_tokens]
        n, c = codes.shape[:2]
        mean, std = self._check_stats(mean, std, n)
        batch_size = self._windows_per_pass(batch_size)
        out = np.empty((n, self.cfg.context_points, c), dtype=np.float32)
        shift, scale = (torch.as_tensor(a, device=self.device) for a in (scaler.shift,
                                                                           scaler.scale))
        for lo in range(0, n, batch_size):
            hi = min(lo + batch_size, n)
            z = torch.from_numpy(codes[lo:hi].reshape(-1, self.n_tokens)).to(self.device)
            stats = RevinStats(*(torch.from_numpy(a[lo:hi].reshape(-1, 1)).to(self.device)
                                 for a in (mean, std)))
            series = self.model.decode(z, stats).reshape(hi - lo, c, -1)  # [b, C, T] scaled
            out[lo:hi] = (series.transpose(1, 2) * scale + shift).cpu().numpy()
        return out

    # ---- input checks --------------------------------------------------------------------

    def _windows_per_pass(self, batch_size: int | None) -> int:
        if batch_size is None:
            return max(1, SERIES_PER_PASS // self.n_channels)
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise TsvqError(f"batch_size must be a positive integer, got {batch_size!r}")
        return batch_size

    def _check_windows(self, x: np.ndarray | torch.Tensor) -> np.ndarray | torch.Tensor:
        if not torch.is_tensor(x):
            x = np.asarray(x)
            if not (np.issubdtype(x.dtype, np.floating) or np.issubdtype(x.dtype, np.integer)):
                raise TsvqError(f"x must hold real numbers, got dtype {x.dtype}")
        elif x.is_complex() or x.dtype == torch.bool:
            raise TsvqError(f"x must hold real numbers, got dtype {x.dtype}")
        if x.ndim == 2:
            x = x[None]
        t, c = self.cfg.context_points, self.n_channels
        if x.ndim != 3 or tuple(x.shape[1:]) != (t, c):
            hint = ""
            if x.ndim == 3 and tuple(x.shape[1:]) == (c, t):
                hint = "; it looks like [B, C, T]: swap the last two axes"
            raise TsvqError(
                f"x must be [B, T, C] or [T, C] with T = context_points = {t} and C = {c} "
                f"channel(s) ({describe_columns(self.columns)}), got shape {tuple(x.shape)}{hint}"
            )
        return x

    def _to_device(self, part: np.ndarray | torch.Tensor, offset: int) -> torch.Tensor:
        if torch.is_tensor(part):
            t = part.detach().to(self.device, torch.float32)
        else:
            t = torch.from_numpy(np.ascontiguousarray(part)).to(self.device, torch.float32)
        bad = ~torch.isfinite(t)
        if bad.any():
            b, i, ch = (int(v) for v in bad.nonzero()[0])
            raise TsvqError(
                f"x holds {float(t[b, i, ch])} at window {offset + b}, time step {i}, channel "
                f"{ch} ({self.columns[ch]}); every value must be a finite number"
            )
        return t

    def _check_codes(self, codes: np.ndarray | torch.Tensor) -> np.ndarray:
        a = codes.detach().cpu().numpy() if torch.is_tensor(codes) else np.asarray(codes)
        if not np.issubdtype(a.dtype, np.integer):
            raise TsvqError(f"codes must be integers, got dtype {a.dtype}")
        if a.ndim == 2:
            a = a[None]
        c, k = self.n_channels, self.n_tokens
        if a.ndim != 3 or a.shape[1:] != (c, k):
            raise TsvqError(
                f"codes must be [B, C, n_tokens] = [B, {c}, {k}] for this tokenizer "
                f"({c} channel(s); context_points {self.cfg.context_points} / compression_factor "
                f"{self.cfg.compression_factor} = {k} tokens), got shape {a.shape}; codes made by "
                "a tokenizer of another configuration do not decode here"
            )
        if a.size and (a.min() < 0 or a.max() >= self.vocab_size):
            bad = np.argwhere((a < 0) | (a >= self.vocab_size))[0]
            raise TsvqError(
                f"codes must be in 0..{self.vocab_size - 1} (num_embeddings {self.vocab_size}), "
                f"found {a[tuple(bad)]} at window {bad[0]}, channel {bad[1]}, token {bad[2]}"
            )
        return np.ascontiguousarray(a, dtype=np.int64)

    def _check_stats(
        self, mean: np.ndarray | torch.Tensor | None, std: np.ndarray | torch.Tensor | None,
        n: int,
    ) -> tuple[np.ndarray, np.ndarray]:
        c = self.n_channels
        if mean is None and std is None and not self.cfg.revin:
            return np.zeros((n, c), np.float32), np.ones((n, c), np.float32)
        if mean is None or std is None:
            raise TsvqError(
                "bare codes of a RevIN model need mean= and std= [B, C]: the RevIN statistics of "
                "the windows they stand for (Encoded.mean and Encoded.std)"
            )
        out = []
        for name, v in (("mean", mean), ("std", std)):
            a = v.detach().cpu().numpy() if torch.is_tensor(v) else np.asarray(v)
            if a.shape == (c,) and n == 1:
                a = a[None]
            if a.shape != (n, c):
                raise TsvqError(f"{name} must be [B, C] = [{n}, {c}], got shape {a.shape}")
            if not np.isfinite(a).all():
                raise TsvqError(f"{name} holds NaN or inf; statistics must be finite")
            out.append(np.ascontiguousarray(a, dtype=np.float32))
        if (out[1] <= 0).any():
            raise TsvqError("std must be > 0 everywhere (RevIN divides by it)")
        return out[0], out[1]


def describe_columns(columns: list[str], at_most: int = 8) -> str:
    """Channel names for a message: the first few, then how many in all."""
    head = ", ".join(columns[:at_most])
    return head if len(columns) <= at_most else f"{head}, ... ({len(columns)} in all)"


def _model_config(fields: dict) -> ModelConfig:
    known = set(ModelConfig.__dataclass_fields__)
    unknown = sorted(set(fields) - known)
    if unknown:
        raise TsvqError(
            f"tokenizer configuration has unknown model field(s) {', '.join(unknown)}; it was "
            "written by another version of tsvq"
        )
    cfg = ModelConfig(**fields)
    try:
        validate(cfg)
    except ValueError as exc:
        raise TsvqError(f"tokenizer configuration is invalid: {exc}") from None
    return cfg


def _first_line(exc: BaseException) -> str:
    """The gist of an exception in one line (a heading ending in ':' keeps its first item)."""
    lines = [line.strip() for line in str(exc).strip().splitlines() if line.strip()]
    if not lines:
        return type(exc).__name__
    head = f"{lines[0]} {lines[1]}" if lines[0].endswith(":") and len(lines) > 1 else lines[0]
    return head[:300]
