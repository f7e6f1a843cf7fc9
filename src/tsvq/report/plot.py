"""`tsvq plot`: loss curves, test windows over their reconstructions, and code usage, as PNGs."""

from __future__ import annotations

import csv
import math
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from tsvq.data.windows import SeriesData, Split
from tsvq.errors import TsvqError
from tsvq.files import check_outputs, write_with
from tsvq.model.revin import normalize
from tsvq.report.evaluate import load_split_data, window_chunks
from tsvq.report.zero_shot import foreign_data
from tsvq.tokens.passes import pass_size
from tsvq.tokens.tokenizer import Tokenizer
from tsvq.tokens.units import original_units

N_WINDOWS = 4


def _pyplot():
    try:
        import matplotlib
    except ImportError:
        raise TsvqError(
            "tsvq plot draws with matplotlib, which is not installed: pip install 'tsvq[plot]'"
        ) from None

    matplotlib.use("Agg")  # headless
    import matplotlib.pyplot as plt

    return plt


PLOTS = ("loss_curves.png", "reconstructions.png", "code_usage.png")  # the files written


def _save(fig, path: Path) -> None:
    write_with(path, lambda tmp: fig.savefig(tmp, format="png", dpi=110, bbox_inches="tight"))


HISTORY_NEEDS = (
    "epoch",
    "train_loss",
    "valid_loss",
    "train_recon_loss",
    "valid_recon_loss",
    "train_vq_loss",
    "valid_vq_loss",
)


def read_history(history_csv: Path) -> list[dict[str, float]]:
    """The rows of a `_history.csv`, every needed column a finite number; else one line."""
    try:
        with open(history_csv, newline="", encoding="utf-8") as fh:
            reader = csv.DictReader(fh)
            rows = list(reader)
            header = reader.fieldnames or []
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise TsvqError(f"cannot read history {history_csv}: {exc}") from None
    missing = [c for c in HISTORY_NEEDS if c not in header]
    if missing:
        raise TsvqError(
            f"history {history_csv} is not a tsvq history: it lacks the column(s) "
            f"{', '.join(missing)}"
        )
    if not rows:
        raise TsvqError(f"history {history_csv} holds no epochs")
    wanted = [
        c
        for c in header
        if c in HISTORY_NEEDS or c == "lr" or c.endswith(("_perplexity", "_codes_used"))
    ]
    parsed = []
    for i, row in enumerate(rows, start=1):
        values = {}
        for c in wanted:
            text = row.get(c)
            try:
                values[c] = float(text)  # type: ignore[arg-type]
            except (TypeError, ValueError):
                values[c] = math.nan
            if not math.isfinite(values[c]):
                raise TsvqError(
                    f"history {history_csv}: data row {i}, column {c!r} is "
                    f"{text!r}, not a finite number"
                )
        parsed.append(values)
    return parsed


# (history column without the train_/valid_ prefix, panel title, y label, log scale)
HISTORY_PANELS = (
    ("loss", "total loss", "loss per series (sum)", True),
    ("recon_loss", "reconstruction loss", "squared error per series (sum)", True),
    ("vq_loss", "VQ loss", "codebook + commitment per series", True),
    ("perplexity", "codebook perplexity", "perplexity (effective codes)", False),
    ("codes_used", "codes used", "distinct codes per epoch", False),
)


def plot_history(history_csv: Path, out: Path) -> Path:
    """Loss (total, reconstruction, VQ), perplexity, codes used and learning rate per epoch."""
    rows = read_history(history_csv)  # a damaged history is refused before anything is drawn
    plt = _pyplot()
    ep = [int(r["epoch"]) for r in rows]
    fig, axes = plt.subplots(2, 3, figsize=(15, 7.5), constrained_layout=True)
    flat = list(axes.flat)
    for ax, (key, title, ylabel, log) in zip(flat, HISTORY_PANELS, strict=False):
        for split, style in (("train", "-"), ("valid", "--")):
            if f"{split}_{key}" in rows[0]:
                _series(ax, ep, [float(r[f"{split}_{key}"]) for r in rows], style, split)
        _axes(ax, title, ylabel, log, ep)
    if "lr" in rows[0]:
        _series(flat[5], ep, [float(r["lr"]) for r in rows], "-", "learning rate")
    _axes(flat[5], "learning rate (AdamW, cosine)", "learning rate", True, ep)
    fig.suptitle(f"{history_csv.name}: {len(ep)} epoch(s)")
    path = out / PLOTS[0]
    _save(fig, path)
    plt.close(fig)
    return path


def _series(ax, ep: list[int], values: list[float], style: str, label: str) -> None:
    ax.plot(ep, values, style, marker="o", label=label)
    if len(ep) <= 3:  # a curve of one to three points: print the values themselves
        for x, y in zip(ep, values, strict=True):
            ax.annotate(f"{y:.4g}", (x, y), textcoords="offset points", xytext=(6, 4), fontsize=8)


def _axes(ax, title: str, ylabel: str, log: bool, ep: list[int]) -> None:
    ax.set_title(title)
    ax.set_xlabel("epoch")
    ax.set_ylabel(ylabel)
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))
    if ep:
        ax.set_xlim(min(ep) - 0.5, max(ep) + 0.5)  # one epoch is a point, not an empty axis
    ys = [y for line in ax.get_lines() for y in line.get_ydata()]
    if log and ys and min(ys) > 0 and max(ys) > 10 * min(ys):  # log only where it spans decades
        ax.set_yscale("log")
    ax.grid(True, which="major", alpha=0.3)
    if ax.get_lines():
        ax.legend(fontsize=8)


@torch.inference_mode()
def plot_reconstructions(
    tok: Tokenizer,
    out: Path,
    split: Split = "test",
    channels: list[str] | None = None,
    data: SeriesData | None = None,
    source: tuple[str | None, str | None] = (None, None),
) -> list[Path]:
    """A few windows of the split (original units) drawn over their reconstructions,
    and the histogram of code usage over the whole split.

    `channels`: names or indices to draw; by default the target column and the first others,
    up to four in all. `data`: another dataset (`zero_shot.foreign_data`), else its own, read
    from `source`: (root_path, data_path) as `load_split_data` takes them.
    """
    plt = _pyplot()
    data = data if data is not None else load_split_data(tok, *source)
    model, cfg = tok.model, tok.cfg
    views = data.windows(split)
    series = pass_size(model, None, views.shape[0], data.n_channels * cfg.context_points)
    series *= data.n_channels  # series per forward pass
    picks = np.linspace(0, views.shape[0] - 1, N_WINDOWS).astype(int)
    shown = pick_channels(data.columns, tok.data.spec.target, channels)
    fig, axes = plt.subplots(
        len(shown), N_WINDOWS, figsize=(4 * N_WINDOWS, 2.4 * len(shown)), squeeze=False
    )
    for j, w in enumerate(picks):
        x = torch.from_numpy(np.array(views[w]))  # [C, T], a copy
        stats = normalize(x)[1] if cfg.revin else None
        orig = original_units(x[None], data.scaler)[0].numpy()
        rec = original_units(model(x).recon[None], data.scaler, stats)[0].numpy()
        for i, ch in enumerate(shown):
            ax = axes[i][j]
            ax.plot(orig[ch], lw=1.0, label="data")
            ax.plot(rec[ch], lw=1.0, label="reconstruction")
            for b in range(cfg.patch_size, cfg.context_points, cfg.patch_size):
                ax.axvline(b, color="0.9", lw=0.5, zorder=0)
            if j == 0:
                ax.set_ylabel(f"{data.columns[ch]}\n(the file's units)")
            if i == len(shown) - 1:
                ax.set_xlabel(f"time step in the window (patches of {cfg.patch_size})")
            if i == 0:
                ax.set_title(f"{split} window {w} (file row {data.starts[split] + w})")
    axes[0][0].legend(loc="upper left", fontsize=7)
    p1 = out / PLOTS[1]
    _save(fig, p1)
    plt.close(fig)

    counts = torch.zeros(cfg.num_embeddings, dtype=torch.float64)
    for chunk in window_chunks(data, split):
        for x in torch.from_numpy(chunk).reshape(-1, cfg.context_points).split(series):
            codes, _ = model.encode(x)
            counts += torch.bincount(codes.reshape(-1), minlength=cfg.num_embeddings).double()
    fig, ax = plt.subplots(figsize=(10, 3.5))
    order = counts.argsort(descending=True)
    ax.bar(range(cfg.num_embeddings), (counts[order] / counts.sum()).numpy(), width=1.0)
    used = int((counts > 0).sum())
    ax.set_title(
        f"code usage on the {split} split, most used first: {used}/{cfg.num_embeddings} codes used"
    )
    ax.set_xlabel("code (sorted by use)")
    ax.set_ylabel("share of tokens")
    p2 = out / PLOTS[2]
    _save(fig, p2)
    plt.close(fig)
    return [p1, p2]


def pick_channels(
    columns: list[str], target: str, wanted: list[str] | None, most: int = 4
) -> list[int]:
    """Indices of the channels to draw: `wanted` (names or indices), else the target and the
    first other columns, `most` in all."""
    if wanted:
        picked = []
        for w in wanted:
            if w in columns:
                picked.append(columns.index(w))
            elif w.isdigit() and int(w) < len(columns):
                picked.append(int(w))
            else:
                raise TsvqError(
                    f"--channels: {w!r} is neither a channel name nor an index below "
                    f"{len(columns)}; channels are {', '.join(columns[:20])}"
                )
        return list(dict.fromkeys(picked))
    first = [columns.index(target)] if target in columns else []
    rest = [i for i in range(len(columns)) if i not in first]
    return sorted(first + rest[: most - len(first)])


def plot_run(
    ckpt: Path,
    out: Path | None = None,
    split: Split = "test",
    channels: list[str] | None = None,
    say: Callable[[str], None] = print,
    dset: str | None = None,
    root_path: str | None = None,
    data_path: str | None = None,
) -> list[Path]:
    """Every plot of a run into `out` (default: `{checkpoint}_plots` beside it): loss curves
    when its history is beside it, reconstructions and code usage (of `dset`, zero-shot, when
    given: `zero_shot.foreign_data`; else of its own data, from `root_path` / `data_path` where
    it moved or its source does not record it). Everything is checked before the first file
    is written."""
    _pyplot()  # an optional extra: say what to install before anything else
    out = out if out is not None else ckpt.with_name(ckpt.stem + "_plots")
    if out.exists() and not out.is_dir():
        raise TsvqError(f"--out: {out} is a file, not a directory")
    history = ckpt.with_name(ckpt.stem + "_history.csv")
    check_outputs(
        {"--checkpoint": ckpt, "its history": history}, [("--out", out / name) for name in PLOTS]
    )
    tok = Tokenizer.from_pretrained(ckpt)  # read once, checked at its door, before any file
    if history.exists() or history.is_symlink():
        read_history(history)  # a damaged history is refused before anything is drawn
    data = None
    if dset is not None:
        data, said = foreign_data(tok, dset, root_path, data_path)
        say(said.line())
    paths = plot_reconstructions(tok, out, split, channels, data, (root_path, data_path))
    if history.is_file():
        paths.insert(0, plot_history(history, out))
    else:
        say(f"no history beside the checkpoint ({history}); loss curves skipped")
    return paths
