"""`tsvq eval`: reconstruction quality and codebook usage of a tokenizer over a whole split."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np
import torch

from tsvq.data import windows
from tsvq.data.registry import locate
from tsvq.data.userfile import read_series
from tsvq.data.windows import SPLITS, Scaler, SeriesData, Split, prepare
from tsvq.errors import TsvqError
from tsvq.model.quantizer import perplexity_of
from tsvq.model.revin import normalize
from tsvq.model.vqvae import VQVAE
from tsvq.run.record import Origin
from tsvq.tokens.passes import pass_size
from tsvq.tokens.tokenizer import Tokenizer
from tsvq.tokens.units import original_units

# Values of windows whose errors are summed at a time (the model sees them in smaller passes,
# `pass_size`): bounds memory whatever the split's size, and fixes the order of the float64
# sums, so the figures do not depend on the size of the model's passes.
CHUNK_VALUES = 1 << 21


@dataclass
class ChannelErrors:
    """One channel's per-element errors: in RevIN space, and in the channel's own units."""

    channel: str
    mse: float
    mae: float
    mse_original: float
    mae_original: float


@dataclass
class Evaluation:
    """What `evaluate` measured over a split (`tsvq eval --json` prints it as an object)."""

    split: Split
    dset: str
    epoch: int | None  # 1-based, as the log and history count; None when the source says none
    origin: Origin  # "tsvq", or "original" for a checkpoint of the original script
    windows: int
    channels: int
    mse: float  # per element, in RevIN space, over every channel
    mae: float
    mse_original: float | None  # in the data's units: only with one channel (units differ)
    mae_original: float | None
    perplexity: float
    codes_used: int
    dead_codes: int
    codebook_size: int
    per_channel: list[ChannelErrors]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def load_split_data(
    tok: Tokenizer, root_path: str | None = None, data_path: str | None = None
) -> SeriesData:
    """The tokenizer's dataset, split as in training and scaled with its training statistics.

    `root_path` finds the data where it moved since training; `data_path` gives the CSV of a
    `custom` dataset where the source does not (an exported folder or Hub repo keeps no paths).
    """
    spec, source = tok.data.spec, tok.run.source
    if data_path is not None and spec.dset != "custom":
        raise TsvqError(
            f"--data_path is for a tokenizer trained on a file of its own (custom data); "
            f"{source or 'this one'} was trained on {spec.dset} (use --root_path)"
        )
    # one rule (registry.locate): a path typed is read as it is now; else the recorded file
    path, sha256 = locate(spec.dset, root_path, data_path, spec.data_path, tok.data.sha256)
    if root_path is not None or data_path is not None:
        spec = replace(spec, root_path=root_path, data_path=str(path))
    try:
        data = prepare(read_series(path, spec, sha256), spec, scaler=tok.scaler, advise=False)
    except TsvqError as exc:
        if not source or source in str(exc):
            raise
        raise type(exc)(f"{exc} (the data of {source})") from None
    if tuple(data.columns) != tuple(tok.columns):
        raise TsvqError(
            f"{path} gives the channels {', '.join(data.columns)}; {source or 'the tokenizer'} "
            f"was trained on {', '.join(tok.columns)} (each channel is scaled with its own "
            "statistics)"
        )
    return data


def window_chunks(data: SeriesData, split: str) -> Iterator[np.ndarray]:
    """Consecutive windows of a split in chunks [b, C, T], bounded in memory."""
    return windows.window_chunks(data, split, CHUNK_VALUES)


ERRORS = ("se", "ae", "se_o", "ae_o")  # squared and absolute, model space and original units


@torch.inference_mode()
def chunk_errors(
    model: VQVAE,
    x: torch.Tensor,
    scaler: Scaler,
    series: int,
    errors: dict[str, torch.Tensor],
    counts: torch.Tensor,
) -> None:
    """Per-element errors of the windows `x` [b, C, T] (scaled) into `errors`' buffers
    (float64 [>= b*C, T], reused chunk after chunk), the model run `series` series a pass (whole
    windows); each pass's code counts are added to `counts` [K]. Every element is computed as
    one pass over the chunk computed it, so the chunk's sums are too."""
    b, c, t = x.shape
    flat = x.reshape(b * c, t)
    for lo in range(0, b * c, series):
        part = flat[lo : lo + series]  # [w*C, T]
        hi, out = lo + part.shape[0], model(part)
        counts += out.counts.double().cpu()
        err = (out.recon - out.target).double()
        stats = normalize(part)[1] if model.cfg.revin else None
        orig = original_units(part.reshape(-1, c, t), scaler)
        recon_o = original_units(out.recon.reshape(-1, c, t), scaler, stats)
        # in float64: near float32's limits a float32 difference overflows
        err_o = (recon_o.double() - orig.double()).reshape(-1, t)
        for key, e in (("se", err), ("se_o", err_o)):
            torch.pow(e, 2, out=errors[key][lo:hi])
        for key, e in (("ae", err), ("ae_o", err_o)):
            torch.abs(e, out=errors[key][lo:hi])


@torch.inference_mode()
def evaluate(
    tok: Tokenizer, data: SeriesData, split: Split = "test", batch_size: int | None = None
) -> Evaluation:
    """Reconstruction error and codebook usage of a tokenizer over a whole split.

    Parameters
    ----------
    tok : Tokenizer
        The model evaluated, and what it was trained on.
    data : SeriesData
        Its dataset, split and scaled as in training (`load_split_data`).
    split : {"train", "val", "test"}
        The rows evaluated: every window of the split.
    batch_size : int, optional
        Windows per forward pass (default: about 32,768 values, 64 series at context 512,
        as `Tokenizer.encode`). The figures do not depend on it.

    Returns
    -------
    Evaluation
        Per-element MSE/MAE in RevIN space (all channels, and each) and in original units,
        and the codebook's usage (codes used, dead codes, perplexity).

    Raises
    ------
    TsvqError
        If `split` is not one of the splits, or `batch_size` is not a positive integer or
        does not fit in memory.
    """
    if split not in SPLITS:
        raise TsvqError(f"split={split!r} is not one of {', '.join(SPLITS)}")
    model, cfg = tok.model, tok.cfg
    device = next(model.parameters()).device
    c, t = data.n_channels, cfg.context_points
    sums = {k: torch.zeros(c, dtype=torch.float64) for k in ERRORS}
    counts = torch.zeros(cfg.num_embeddings, dtype=torch.float64)
    n_windows = 0
    step = pass_size(model, batch_size, data.n_windows(split), c * t)  # windows per pass
    errors: dict[str, torch.Tensor] = {}
    for chunk in window_chunks(data, split):
        b = chunk.shape[0]
        x = torch.from_numpy(chunk).to(device)  # [b, C, T], scaled
        if not errors:  # the first chunk is the largest
            errors = {k: torch.empty(b * c, t, dtype=torch.float64, device=device) for k in sums}
        chunk_errors(model, x, data.scaler, step * c, errors, counts)
        for key, e in errors.items():  # summed over the chunk in one reduction, as always
            sums[key] += e[: b * c].reshape(b, c, t).sum(dim=(0, 2)).cpu()
        n_windows += b
    per = n_windows * t
    used = int((counts > 0).sum())
    per_channel = [
        ChannelErrors(
            name,
            float(sums["se"][i] / per),
            float(sums["ae"][i] / per),
            float(sums["se_o"][i] / per),
            float(sums["ae_o"][i] / per),
        )
        for i, name in enumerate(data.columns)
    ]
    total = per * c
    # Errors in the data's own units are averaged over channels only when there is one channel:
    # kW and degrees (ETT), or mbar and W/m^2 (weather), do not add up.
    one_unit = c == 1
    epoch = tok.run.epoch
    return Evaluation(
        split=split,
        dset=data.spec.dset,
        epoch=None if epoch is None else epoch + 1,  # as the log and history count
        origin=tok.run.origin,
        windows=n_windows,
        channels=c,
        mse=float(sums["se"].sum() / total),
        mae=float(sums["ae"].sum() / total),
        mse_original=float(sums["se_o"].sum() / total) if one_unit else None,
        mae_original=float(sums["ae_o"].sum() / total) if one_unit else None,
        perplexity=float(perplexity_of(counts)),
        codes_used=used,
        dead_codes=cfg.num_embeddings - used,
        codebook_size=cfg.num_embeddings,
        per_channel=per_channel,
    )


def format_table(r: Evaluation) -> str:
    """The table `tsvq eval` prints."""
    lines = [
        f"{r.dset} {r.split} split: {r.windows} windows x {r.channels} channel(s), "
        f"checkpoint epoch {r.epoch if r.epoch is not None else 'unknown'}",
        f"codebook: {r.codes_used}/{r.codebook_size} codes used "
        f"({r.dead_codes} dead), perplexity {r.perplexity:.2f}",
        "",
        f"{'channel':<16}{'mse':>12}{'mae':>12}{'mse (orig)':>14}{'mae (orig)':>14}",
    ]
    for ch in r.per_channel:
        lines.append(
            f"{str(ch.channel)[:15]:<16}{ch.mse:>12.6f}{ch.mae:>12.6f}"
            f"{ch.mse_original:>14.6g}{ch.mae_original:>14.6g}"
        )
    orig = [
        f"{v:>14.6g}" if v is not None else f"{'-':>14}" for v in (r.mse_original, r.mae_original)
    ]
    lines.append(f"{'all':<16}{r.mse:>12.6f}{r.mae:>12.6f}{''.join(orig)}")
    lines.append(
        "(mse/mae per element in RevIN space, where channels share a unit; orig: in "
        "each channel's own units, not averaged over channels)"
    )
    if r.origin == "original":
        lines.append(
            "(a checkpoint of the original script: it trained channel 0 alone, so "
            "only that channel is evaluated; scaler refitted on the training split)"
        )
    return "\n".join(lines)
