"""Tokenizer: series in original units <-> discrete codes, with the statistics to go back.

Encoding follows the training path and stops at the codes: the training scaler, then RevIN per
window and channel, then the encoder and the nearest codebook vector. Decoding looks the codes
up, runs the decoder and undoes RevIN and the scaler with the statistics returned on the way in.
Where a tokenizer comes from and goes to (a checkpoint, a folder, the Hub) is `pretrained`'s.
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any, overload

import numpy as np
import torch

from tsvq import trust
from tsvq.data.record import DataRecord
from tsvq.data.windows import Scaler
from tsvq.errors import TsvqError
from tsvq.model.vqvae import VQVAE, ModelConfig
from tsvq.run.record import RunInfo
from tsvq.tokens import channels, frames, inputs, passes, pretrained, ragged, shapes
from tsvq.tokens.card import model_card
from tsvq.tokens.encoded import Encoded
from tsvq.tokens.gaps import Missing
from tsvq.tokens.pretrained import DIGEST_KEY
from tsvq.tokens.shapes import Pad
from tsvq.tokens.writer import Origin

# One input to `encode`: windows [B, T, C], one window [T, C] or one series [T], as an array, a
# tensor or a pandas DataFrame / Series (pandas is untyped: Any)
Series = np.ndarray | torch.Tensor | Any

__all__ = ["DIGEST_KEY", "Encoded", "Tokenizer"]


class Fingerprint(str):
    """`Tokenizer.fingerprint`: calling it, as tsvq 0.1 did, still answers, and says so."""

    def __call__(self) -> str:
        warnings.warn(
            "Tokenizer.fingerprint is a property since tsvq 0.2: write tok.fingerprint, "
            "not tok.fingerprint()",
            FutureWarning,
            stacklevel=2,
        )
        return str(self)


class Tokenizer:
    """A trained VQ-VAE as a tokenizer: `encode` [B, T, C] -> codes, `decode` codes -> [B, T, C].

    Load one with `Tokenizer.from_pretrained(path)`; `tok(x)` is `tok.encode(x)`. Not a torch
    module: nothing of `nn.Module` stands between a user and the two calls that matter.

    Parameters
    ----------
    model : VQVAE
        The trained model, put in eval mode (`cfg` is its `ModelConfig`).
    data : DataRecord
        What it was trained on: dataset, channels by name, the fitted scaler (if it has none
        yet, a `TsvqError`: refit it, `DataRecord.refitted`).
    run : RunInfo, optional
        What is known of its run: the epoch, who wrote it, where it was read.
    """

    def __init__(self, model: VQVAE, data: DataRecord, run: RunInfo | None = None) -> None:
        if data.scaler is None:
            raise TsvqError("the tokenizer's data record has no scaler: refit it first")
        self.model, self.data, self.run = model.eval(), data, run or RunInfo()

    @classmethod
    def from_pretrained(
        cls, path: str | Path, *, device: str | torch.device = "cpu", **hub_kwargs: Any
    ) -> Tokenizer:
        """Load a shipped tokenizer, a training checkpoint, an exported folder, or a Hub repo.

        A name is resolved in this order: a tokenizer shipped inside tsvq (`"tsvq/ett"`; `tsvq
        pretrained` lists them), then a local file or folder, then the Hugging Face Hub. Names
        under `tsvq/` are tsvq's own: one that does not ship (and is no local path) is refused,
        never looked up on the Hub. A shipped tokenizer loads offline, its files checked against
        the sha256 of tsvq's packaged manifest.

        Parameters
        ----------
        path : str or Path
            A shipped name `tsvq/<short>`, a `.pth` of `tsvq train` or of the original
            `vqvae_train.py`, a folder of `tsvq export` / `save_pretrained`, or a Hub repo id
            `owner/name`.
        device : str or torch.device, default "cpu"
            Where encode and decode run: "cpu", "cuda", "cuda:1" or "auto".
        **hub_kwargs
            revision, token, cache_dir, force_download, local_files_only (a repo id only).

        Returns
        -------
        Tokenizer

        Raises
        ------
        TsvqError
            A source missing, damaged or edited since tsvq wrote it (one line naming the
            file and the field), or a device torch does not know.
        """
        return cls(*pretrained.read(path, hub_kwargs)).to(device)

    def save_pretrained(self, folder: str | Path, figures: str | None = None) -> Path:
        """Write `config.json`, `model.safetensors` and a `README.md` model card, as the Hugging
        Face convention has them (`tsvq export` writes them atomically: all or nothing).

        Parameters
        ----------
        folder : str or Path
            Created if needed.
        figures : str, optional
            The test figures the model card states (`tsvq export` measures them).

        Returns
        -------
        Path
        """
        card = model_card(self.cfg, self.data, self.run, self.fingerprint, figures)
        return pretrained.write(folder, self.model, self.data, self.run, card)

    def push_to_hub(self, repo_id: str, **kwargs: Any) -> str:
        """Upload the `save_pretrained` files to Hub repo `repo_id` (created if needed); returns
        the commit's URL. `kwargs`: token, private, revision, commit_message."""
        return pretrained.push(self.save_pretrained, repo_id, **kwargs)

    def to(self, device: str | torch.device) -> Tokenizer:
        """Run encode and decode on `device` ("cpu", "cuda", "cuda:1", "auto"); returns self."""
        self.model.to(inputs.device_of(device))
        return self

    def __call__(self, x: np.ndarray | torch.Tensor, **kwargs: Any) -> Encoded:
        """`encode(x, ...)`."""
        return self.encode(x, **kwargs)

    def __repr__(self) -> str:
        c = self.cfg
        return (
            f"Tokenizer({self.data.spec.dset}, {self.n_channels} channel(s), T="
            f"{c.context_points}, patch {c.patch_size}, {c.compression_factor} steps per "
            f"token, {c.num_embeddings} codes, revin={c.revin}, device={self.device})"
        )

    @property
    def cfg(self) -> ModelConfig:
        return self.model.cfg

    @property
    def columns(self) -> list[str]:
        """The training channels' names."""
        return list(self.data.columns)

    @property
    def scaler(self) -> Scaler:
        """The scaler fitted on the training channels' training rows."""
        return self.data.scaler  # type: ignore[return-value]  # never None (see __init__)

    @property
    def device(self) -> torch.device:
        return self.model.quantizer.codebook.device

    @property
    def n_channels(self) -> int:
        return len(self.data.columns)

    @property
    def n_tokens(self) -> int:
        """Tokens per channel of a training window (a window of T steps gives T / cf)."""
        return self.cfg.n_tokens

    @property
    def vocab_size(self) -> int:
        """Codes are integers in [0, vocab_size)."""
        return self.cfg.num_embeddings

    @property
    def fingerprint(self) -> str:
        """Digest of weights and scaler: tokens decode only with the model that made them."""
        scaler = self.scaler
        return Fingerprint(trust.fingerprint(self.model.state_dict(), scaler.shift, scaler.scale))

    @property
    def codebook(self) -> torch.Tensor:
        """The code vectors, [num_embeddings, embedding_dim] float32 (a copy)."""
        return self.model.quantizer.codebook.detach().clone()

    def vectors(self, codes: np.ndarray | torch.Tensor) -> torch.Tensor:
        """Codes of any shape [...] -> their codebook vectors [..., embedding_dim]."""
        a = inputs.in_range(inputs.as_int_array(codes, "codes"), self.vocab_size)
        return self.model.quantizer.codebook.detach()[torch.from_numpy(a).to(self.device)]

    def scaler_for(
        self, c: int, columns: list[str] | None, scaler: Scaler | None = None
    ) -> tuple[Scaler, list[str]]:
        """The scaler for C channels named `columns` and their names (see `encode`)."""
        return channels.scaler_for(self.data, self.cfg.revin, c, columns, scaler)

    @overload
    def encode(
        self,
        x: list | tuple,
        mean: np.ndarray | torch.Tensor | None = ...,
        std: np.ndarray | torch.Tensor | None = ...,
        *,
        missing: Missing = ...,
        columns: list[str] | None = ...,
        scaler: Scaler | None = ...,
        batch_size: int | None = ...,
        pad: Pad = ...,
    ) -> list[Encoded]: ...

    @overload
    def encode(
        self,
        x: np.ndarray | torch.Tensor,
        mean: np.ndarray | torch.Tensor | None = ...,
        std: np.ndarray | torch.Tensor | None = ...,
        *,
        missing: Missing = ...,
        columns: list[str] | None = ...,
        scaler: Scaler | None = ...,
        batch_size: int | None = ...,
        pad: Pad = ...,
    ) -> Encoded: ...

    @torch.inference_mode()
    def encode(
        self,
        x: Series | Sequence[Series],
        mean: np.ndarray | torch.Tensor | None = None,
        std: np.ndarray | torch.Tensor | None = None,
        *,
        missing: Missing = "error",
        columns: list[str] | None = None,
        scaler: Scaler | None = None,
        batch_size: int | None = None,
        pad: Pad = "none",
    ) -> Encoded | list[Encoded]:
        """Windows in original units -> their codes and the statistics to decode them.

        Parameters
        ----------
        x : array, tensor, DataFrame or Series, or a list of series
            Windows [B, T, C], one window [T, C], or one series [T] (one channel; decode gives
            [T] back). A DataFrame's columns name its channels (matched to the training
            columns by name) and its index, strictly increasing, is kept (`Encoded.index`).
            A list (or tuple) of series [T_i] / [T_i, C] / DataFrames of any lengths gives a
            list of `Encoded`, one per series, coded in shared passes.
        mean, std : array or tensor [B, C], optional
            Statistics to normalize with (scaled units) instead of each window's own RevIN
            statistics: a forecast target on its context's scale, say (a list: [N, C]).
        missing : {"error", "interpolate"}
            "interpolate" fills NaN/inf linearly along time and marks them in `Encoded.mask`.
        columns : list of str, optional
            A training column takes its training scaler, any other none (RevIN alone
            normalizes it); unnamed, C training channels are those, other C other data.
        scaler : Scaler, optional
            C channels' scaler instead (`tsvq encode` standardizes unknown columns).
        batch_size : int, optional
            Windows (series of a list) per pass (default: about 512 training windows' values).
        pad : {"none", "edge", "reflect", "zero"}
            T not a multiple of patch_size: "none" refuses it; the others pad each window to
            whole patches after RevIN (its statistics are its steps' own) by repeating its last
            value, mirroring its last steps, or with zeros in the model's input space (the
            window's mean under RevIN). Padded tokens are True in `Encoded.mask`, and `decode`
            returns the original length.

        Returns
        -------
        Encoded, or a list of Encoded for a list
            codes [B, C, T' / cf] int64 (T' = T padded to whole patches), mean and std [B, C],
            the scaler, the mask of tokens holding a fill or padding, the channels' names, the
            length before padding, the index's first label.

        Raises
        ------
        TsvqError
            Input it cannot encode, naming the value: a shape, a non-finite value (its
            window, step and channel), statistics, names, a scaler or a pad mode that do not
            fit, a DataFrame column that is not numeric, an index out of order.
        """
        inputs.check_missing(missing)
        shapes.check_pad(pad)
        if isinstance(x, list | tuple):  # series of any lengths
            encs = ragged.encode_series(
                self.model, self.data, x, (mean, std), missing, columns, scaler, batch_size, pad
            )
            origin = origin_of(self)  # a digest of the weights: once for the list
            return [dataclasses.replace(e, origin=origin) for e in encs]
        values, columns, index = frames.unframed(x, columns)
        values = inputs.plain(values, "x")
        one_d = values.ndim == 1
        values = inputs.check_windows(values, self.cfg.patch_size, pad)  # [B, T, C]
        n, t, c = values.shape
        scaler, names = self.scaler_for(c, columns, scaler)
        given = inputs.given_stats(mean, std, n, c, self.cfg.revin)
        t_pad = shapes.padded_length(t, self.cfg.patch_size)
        step = passes.pass_size(self.model, batch_size, n, c * t_pad)
        gaps = missing == "interpolate"
        out = passes.encode_passes(self.model, values, scaler, names, given, gaps, step, pad)
        return dataclasses.replace(out, index=index, input_1d=one_d, origin=origin_of(self))

    @overload
    def decode(
        self,
        tokens: list | tuple,
        mean: None = ...,
        std: None = ...,
        *,
        columns: None = ...,
        scaler: None = ...,
        batch_size: int | None = ...,
    ) -> list[np.ndarray]: ...

    @overload
    def decode(
        self,
        tokens: Encoded | np.ndarray | torch.Tensor,
        mean: np.ndarray | torch.Tensor | None = ...,
        std: np.ndarray | torch.Tensor | None = ...,
        *,
        columns: list[str] | None = ...,
        scaler: Scaler | None = ...,
        batch_size: int | None = ...,
    ) -> np.ndarray: ...

    @torch.inference_mode()
    def decode(
        self,
        tokens: Encoded | np.ndarray | torch.Tensor | list[Encoded] | tuple[Encoded, ...],
        mean: np.ndarray | torch.Tensor | None = None,
        std: np.ndarray | torch.Tensor | None = None,
        *,
        columns: list[str] | None = None,
        scaler: Scaler | None = None,
        batch_size: int | None = None,
    ) -> np.ndarray | list[np.ndarray]:
        """Codes -> windows in original units.

        Parameters
        ----------
        tokens : Encoded, codes [B, C, n_tokens] (or [C, n_tokens]), or a list of Encoded
            An `Encoded` carries its statistics, scaler, names and length; bare codes take the
            rest; a list (what `encode` gives for a list) decodes in shared passes.
        mean, std : array or tensor [B, C], optional
            The RevIN statistics of the windows bare codes stand for (an `Encoded`'s, or the
            context's a forecast continues); a model without RevIN needs none.
        columns, scaler : optional
            The channels of bare codes, as in `encode`.
        batch_size : int, optional
            Windows (Encoded of a list) per forward pass.

        Returns
        -------
        numpy.ndarray, or a list of them for a list
            [B, T, C] float32 in original units: T the length encoded (padding cut off), or
            n_tokens x compression_factor for bare codes; [T] for a 1-D series.

        Raises
        ------
        TsvqError
            Codes out of range or not of whole patches, statistics that do not fit, or
            statistics given beside an `Encoded`.
        """
        if isinstance(tokens, list | tuple):  # one Encoded per series
            inputs.only_bare(mean, std, columns, scaler)
            members = [
                ragged.decodable(e, i, self.cfg, self.scaler_for) for i, e in enumerate(tokens)
            ]
            xs = ragged.decode_list(self.model, members, batch_size)
            return [shapes.unpadded(x, e) for x, e in zip(xs, tokens, strict=True)]
        codes, mean, std, columns, scaler = passes.unpacked(tokens, mean, std, columns, scaler)
        codes = inputs.check_codes(codes, self.cfg)  # [B, C, n_tokens]
        n, c, k = codes.shape
        scaler, _ = self.scaler_for(c, columns, scaler)
        bare = not isinstance(tokens, Encoded)
        stats = inputs.decode_stats(mean, std, n, c, self.cfg.revin, bare)
        step = passes.pass_size(self.model, batch_size, n, c * k * self.cfg.compression_factor)
        x = passes.decode_passes(self.model, codes, stats, scaler, step)
        return x if bare else shapes.unpadded(x, tokens)


def origin_of(tok: Tokenizer) -> Origin:
    """What a tokens file names `tok` by (`Encoded.save`, `tsvq encode`)."""
    return Origin(tok.fingerprint, tok.cfg.compression_factor, tok.vocab_size)
