"""`tsvq plot`: loss curves, test windows over their reconstructions, and code usage, as PNGs."""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

import numpy as np
import torch

from .evaluate import load_model, load_split_data, window_chunks
from .files import write_with
from .revin import denormalize, normalize

N_WINDOWS = 4


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")  # headless
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: Path) -> None:
    write_with(path, lambda tmp: fig.savefig(tmp, format="png", dpi=110, bbox_inches="tight"))


def plot_history(history_csv: Path, out: Path) -> Path:
    """Train / validation loss (total, recon, VQ) and code usage per epoch."""
    plt = _pyplot()
    with open(history_csv, newline="") as fh:
        rows = list(csv.DictReader(fh))
    ep = [int(r["epoch"]) for r in rows]
    fig, axes = plt.subplots(1, 3, figsize=(15, 4))
    for ax, key, title in ((axes[0], "loss", "total loss"), (axes[1], "recon_loss", "recon loss"),
                           (axes[2], "vq_loss", "VQ loss")):
        for split, style in (("train", "-"), ("valid", "--")):
            ax.plot(ep, [float(r[f"{split}_{key}"]) for r in rows], style, marker="o",
                    label=split)
        ax.set_title(f"{title} (sum per series)")
        ax.set_xlabel("epoch")
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.set_yscale("log")
        ax.legend()
    if rows and "valid_codes_used" in rows[0]:
        twin = axes[2].twinx()
        twin.plot(ep, [int(float(r["valid_codes_used"])) for r in rows], ":", color="gray")
        twin.set_ylabel("codes used (valid)", color="gray")
    path = out / "loss_curves.png"
    _save(fig, path)
    plt.close(fig)
    return path


@torch.inference_mode()
def plot_reconstructions(ckpt: Path, out: Path, split: str = "test") -> list[Path]:
    """A few windows of the split (original units) drawn over their reconstructions,
    and the histogram of code usage over the whole split."""
    plt = _pyplot()
    loaded = load_model(ckpt)
    data = load_split_data(loaded)
    model, cfg = loaded.model, loaded.model.cfg
    views = data.windows(split)
    picks = np.linspace(0, views.shape[0] - 1, N_WINDOWS).astype(int)
    c = views.shape[1]
    shown = list(range(min(c, 4)))
    fig, axes = plt.subplots(len(shown), N_WINDOWS, figsize=(4 * N_WINDOWS, 2.4 * len(shown)),
                             squeeze=False)
    for j, w in enumerate(picks):
        x = torch.from_numpy(np.array(views[w]))  # [C, T], a copy
        out_m = model(x)
        recon = out_m.recon
        if cfg.revin:
            recon = denormalize(recon, normalize(x)[1])
        orig = data.scaler.inverse(x.numpy().T).T
        rec = data.scaler.inverse(recon.numpy().T).T
        for i, ch in enumerate(shown):
            ax = axes[i][j]
            ax.plot(orig[ch], lw=1.0, label="data")
            ax.plot(rec[ch], lw=1.0, label="reconstruction")
            for b in range(cfg.patch_size, cfg.context_points, cfg.patch_size):
                ax.axvline(b, color="0.9", lw=0.5, zorder=0)
            if j == 0:
                ax.set_ylabel(data.columns[ch])
            if i == 0:
                ax.set_title(f"{split} window {w} (row {data.starts[split] + w})")
    axes[0][0].legend(loc="upper left", fontsize=7)
    p1 = out / "reconstructions.png"
    _save(fig, p1)
    plt.close(fig)

    counts = torch.zeros(cfg.num_embeddings, dtype=torch.float64)
    for chunk in window_chunks(data, split):
        x = torch.from_numpy(chunk).reshape(-1, cfg.context_points)
        codes, _ = model.encode(x)
        counts += torch.bincount(codes.reshape(-1), minlength=cfg.num_embeddings).double()
    fig, ax = plt.subplots(figsize=(10, 3.5))
    order = counts.argsort(descending=True)
    ax.bar(range(cfg.num_embeddings), (counts[order] / counts.sum()).numpy(), width=1.0)
    used = int((counts > 0).sum())
    ax.set_title(f"code usage on the {split} split, most used first: {used}/{cfg.num_embeddings}"
                 " codes used")
    ax.set_xlabel("code (sorted by use)")
    ax.set_ylabel("share of tokens")
    p2 = out / "code_usage.png"
    _save(fig, p2)
    plt.close(fig)
    return [p1, p2]


def add_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--checkpoint", required=True, help="a .pth written by tsvq train")
    p.add_argument("--out", default=None,
                   help="folder for the PNG files (default: {checkpoint}_plots beside it)")
    p.add_argument("--split", default="test", choices=("train", "val", "test"),
                   help="rows to draw windows and code usage from")


def run(args: argparse.Namespace) -> int:
    from .checkpoint import load_run
    from .errors import TsvqError

    ckpt = Path(args.checkpoint)
    load_run(ckpt)  # validate first: a clear error before any file is written
    out = Path(args.out) if args.out else ckpt.with_name(ckpt.stem + "_plots")
    if out.exists() and not out.is_dir():
        raise TsvqError(f"--out: {out} is a file, not a directory")
    history = ckpt.with_name(ckpt.stem + "_history.csv")
    paths = plot_reconstructions(ckpt, out, args.split)
    if history.is_file():
        paths.insert(0, plot_history(history, out))
    else:
        print(f"no history beside the checkpoint ({history}); loss curves skipped")
    for p in paths:
        print(p)
    return 0
