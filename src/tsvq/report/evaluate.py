"""`tsvq eval`: reconstruction quality and codebook usage of a checkpoint over a whole split."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from tsvq.data.registry import read_table, resolve_path
from tsvq.data.windows import SPLITS, DataSpec, Scaler, SeriesData, prepare
from tsvq.errors import TsvqError
from tsvq.model.quantizer import perplexity_of
from tsvq.model.revin import normalize
from tsvq.model.vqvae import VQVAE
from tsvq.tokens.tokenizer import load
from tsvq.tokens.units import original_units

CHUNK_VALUES = 1 << 21  # values per forward pass: bounds memory whatever the split's size


@dataclass
class Loaded:
    """A tokenizer's model (in eval mode) and what is known of the run that trained it."""

    model: VQVAE
    epoch: int | None  # 0-based, as checkpoints count; None when the source does not say
    origin: str  # "tsvq", or "original" for a checkpoint of the original script
    spec: DataSpec
    scaler: Scaler | None  # None: refitted on the training split (the original's checkpoints)
    source: str = ""  # the checkpoint, folder or repo id it came from, for messages
    columns: tuple[str, ...] = ()  # the channels trained on, when the source says


def load_model(path: str | Path, device: str | torch.device = "cpu") -> Loaded:
    """The model of a checkpoint (tsvq's or the original's), an exported folder or a Hub repo id
    (one loader: `tokenizer.load`), and the data description it was trained with."""
    tok = load(path, device=device)
    if tok.record is not None:  # a checkpoint: its record knows the data's paths
        r = tok.record
        return Loaded(
            tok.model, r.epoch, r.origin, r.data.spec, tok.scaler, str(path), tuple(tok.columns)
        )
    d = tok.data
    spec = DataSpec(
        dset=d.dset,
        root_path=None,
        data_path=None,
        context_points=tok.cfg.context_points,
        scaler=tok.scaler.kind,
        features=d.features,
        target=d.target,
        channel=d.channel,
    )
    return Loaded(
        tok.model, tok.run.get("epoch"), "tsvq", spec, tok.scaler, str(path), tuple(tok.columns)
    )


def load_split_data(
    loaded: Loaded, root_path: str | None = None, data_path: str | None = None
) -> SeriesData:
    """The checkpoint's dataset, split as in training and scaled with the saved statistics.

    A checkpoint of the original script records no statistics: its scaler is fitted again on
    the training split, as the original's data loader fitted it. `data_path` gives the CSV of a
    `custom` dataset where the source does not (an exported folder or Hub repo keeps no paths).
    """
    spec = loaded.spec
    if data_path is not None:
        if spec.dset != "custom":
            raise TsvqError(
                f"--data_path is for a tokenizer trained on --dset custom; "
                f"{loaded.source or 'this one'} was trained on {spec.dset} (use "
                "--root_path)"
            )
        spec = replace(spec, data_path=data_path)
    if root_path is not None:
        data_path = spec.data_path if spec.dset == "custom" else None
        spec = replace(spec, root_path=root_path, data_path=data_path)
        path = resolve_path(spec.dset, root_path, data_path)
    else:
        path = Path(spec.data_path) if spec.data_path else resolve_path(spec.dset, None, None)
    try:
        data = prepare(read_table(path, spec.dset), spec, scaler=loaded.scaler)
    except TsvqError as exc:
        if not loaded.source or loaded.source in str(exc):
            raise
        raise type(exc)(f"{exc} (the data of {loaded.source})") from None
    if loaded.scaler is not None and data.n_channels != len(loaded.scaler.shift):
        raise TsvqError(
            f"{path} gives {data.n_channels} channel(s), the checkpoint was trained on "
            f"{len(loaded.scaler.shift)}"
        )
    if loaded.columns and tuple(data.columns) != loaded.columns:
        raise TsvqError(
            f"{path} gives the channels {', '.join(data.columns)}; {loaded.source} was trained on "
            f"{', '.join(loaded.columns)} (each channel is scaled with its own statistics)"
        )
    return data


def window_chunks(data: SeriesData, split: str) -> Iterator[np.ndarray]:
    """Consecutive windows of a split in chunks [b, C, T], bounded in memory."""
    views = data.windows(split)
    step = max(1, CHUNK_VALUES // (views.shape[1] * views.shape[2]))
    for start in range(0, views.shape[0], step):
        yield np.array(views[start : start + step])  # a writable copy of this chunk only


@torch.inference_mode()
def evaluate(loaded: Loaded, data: SeriesData, split: str = "test") -> dict[str, Any]:
    """Per-element MSE/MAE in RevIN space and in original units, and codebook usage."""
    if split not in SPLITS:
        raise TsvqError(f"split={split!r} is not one of {', '.join(SPLITS)}")
    model, cfg = loaded.model, loaded.model.cfg
    device = next(model.parameters()).device
    c, t = data.n_channels, cfg.context_points
    sums = {k: torch.zeros(c, dtype=torch.float64) for k in ("se", "ae", "se_o", "ae_o")}
    counts = torch.zeros(cfg.num_embeddings, dtype=torch.float64)
    n_windows = 0
    for chunk in window_chunks(data, split):
        b = chunk.shape[0]
        x = torch.from_numpy(chunk).to(device).reshape(b * c, t)  # [b*C, T], scaled
        out = model(x)
        err = (out.recon - out.target).reshape(b, c, t).double()
        sums["se"] += err.pow(2).sum(dim=(0, 2)).cpu()
        sums["ae"] += err.abs().sum(dim=(0, 2)).cpu()
        stats = normalize(x)[1] if cfg.revin else None
        orig = original_units(x.reshape(b, c, t), data.scaler)
        recon_o = original_units(out.recon.reshape(b, c, t), data.scaler, stats)
        err_o = (recon_o - orig).double()
        sums["se_o"] += err_o.pow(2).sum(dim=(0, 2)).cpu()
        sums["ae_o"] += err_o.abs().sum(dim=(0, 2)).cpu()
        counts += out.counts.double().cpu()
        n_windows += b
    per = n_windows * t
    used = int((counts > 0).sum())
    per_channel = [
        {
            "channel": name,
            "mse": float(sums["se"][i] / per),
            "mae": float(sums["ae"][i] / per),
            "mse_original": float(sums["se_o"][i] / per),
            "mae_original": float(sums["ae_o"][i] / per),
        }
        for i, name in enumerate(data.columns)
    ]
    total = per * c
    # Errors in the data's own units are averaged over channels only when there is one channel:
    # kW and degrees (ETT), or mbar and W/m^2 (weather), do not add up.
    one_unit = c == 1
    return {
        "split": split,
        "dset": data.spec.dset,
        # as the log and history count (the file: 0-based)
        "epoch": None if loaded.epoch is None else loaded.epoch + 1,
        "origin": loaded.origin,
        "windows": n_windows,
        "channels": c,
        "mse": float(sums["se"].sum() / total),
        "mae": float(sums["ae"].sum() / total),
        "mse_original": float(sums["se_o"].sum() / total) if one_unit else None,
        "mae_original": float(sums["ae_o"].sum() / total) if one_unit else None,
        "perplexity": float(perplexity_of(counts)),
        "codes_used": used,
        "dead_codes": cfg.num_embeddings - used,
        "codebook_size": cfg.num_embeddings,
        "per_channel": per_channel,
    }


def format_table(r: dict[str, Any]) -> str:
    lines = [
        f"{r['dset']} {r['split']} split: {r['windows']} windows x {r['channels']} channel(s), "
        f"checkpoint epoch {r['epoch'] if r['epoch'] is not None else 'unknown'}",
        f"codebook: {r['codes_used']}/{r['codebook_size']} codes used "
        f"({r['dead_codes']} dead), perplexity {r['perplexity']:.2f}",
        "",
        f"{'channel':<16}{'mse':>12}{'mae':>12}{'mse (orig)':>14}{'mae (orig)':>14}",
    ]
    for ch in r["per_channel"]:
        lines.append(
            f"{str(ch['channel'])[:15]:<16}{ch['mse']:>12.6f}{ch['mae']:>12.6f}"
            f"{ch['mse_original']:>14.6g}{ch['mae_original']:>14.6g}"
        )
    orig = [
        f"{r[k]:>14.6g}" if r[k] is not None else f"{'-':>14}"
        for k in ("mse_original", "mae_original")
    ]
    lines.append(f"{'all':<16}{r['mse']:>12.6f}{r['mae']:>12.6f}{''.join(orig)}")
    lines.append(
        "(mse/mae per element in RevIN space, where channels share a unit; orig: in "
        "each channel's own units, not averaged over channels)"
    )
    if r.get("origin") == "original":
        lines.append(
            "(a checkpoint of the original script: it trained channel 0 alone, so "
            "only that channel is evaluated; scaler refitted on the training split)"
        )
    return "\n".join(lines)
