"""How well a tokenizer trained on one benchmark encodes data it never saw.

Prints reconstruction MSE in RevIN space (each window normalised by its own statistics, so 1.0
is what predicting each window's mean scores) for: the training data's test split; other window
lengths; one series alone; other benchmarks' columns; gaps filled by interpolation; a forecast
target tokenized on its context's statistics. Then the effect of RevIN's epsilon when a column
is not scaled by a training scaler, and the size of a tokens file against the int64 layout.

    TSVQ_DATA_DIR=... PYTHONPATH=src python benchmarks/tokenizer_reach.py --checkpoint RUN.pth
        [--max_windows N]   # at most the first N windows of each row (a quick check)
"""

from __future__ import annotations

import argparse
import functools
import os
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from numpy.lib.stride_tricks import sliding_window_view

from tsvq import Tokenizer
from tsvq.data.windows import Scaler
from tsvq.model.revin import EPS
from tsvq.tokens.codec import encode_csv

DATA = Path(os.environ.get("TSVQ_DATA_DIR", "data"))
FILES = {
    "etth1": "ETT-small/ETTh1.csv",
    "weather": "weather/weather.csv",
    "exchange": "exchange_rate/exchange_rate.csv",
    "illness": "illness/national_illness.csv",
}


def table(name: str) -> pd.DataFrame:
    return pd.read_csv(DATA / FILES[name]).iloc[:, 1:].astype(np.float32)


def test_rows(name: str, t: int) -> np.ndarray:
    """The last 20% of a file (ETTh1: its 12/4/4-month test split), starting t rows early."""
    values = table(name).to_numpy()
    start = 16 * 30 * 24 if name == "etth1" else len(values) - len(values) // 5
    end = 20 * 30 * 24 if name == "etth1" else len(values)
    return values[start - t : end]


def windows(values: np.ndarray, t: int, stride: int, limit: int | None = None) -> np.ndarray:
    """Windows of t rows every `stride` rows, the first `limit` of them: [n, T, C]."""
    return sliding_window_view(values, t, axis=0)[::stride][:limit].transpose(0, 2, 1)


def revin_std(tok: Tokenizer, x: np.ndarray, **kw) -> np.ndarray:
    """Each window's RevIN standard deviation in x's units, epsilon included: [B, 1, C]."""
    enc = tok.encode(x, **kw)
    return (enc.std * enc.scaler.scale)[:, None, :]


def revin_mse(
    tok: Tokenizer,
    x: np.ndarray,
    y: np.ndarray | None = None,
    where: np.ndarray | None = None,
    ref: Scaler | None = None,
    **kw,
) -> float:
    """MSE of y (default decode(encode(x, **kw))) against x in x's RevIN space after scaler
    `ref` (default the tokenizer's choice), over `where` if given; 1.0 is what each window's
    mean scores. With a standard scaler, RevIN's epsilon is small next to almost every
    window's variance, so this is the error relative to each window's own spread."""
    if y is None:
        y = tok.decode(tok.encode(x, **kw))
    cols = kw.get("columns")
    err = ((y - x) / revin_std(tok, x, columns=cols, scaler=ref)) ** 2
    return float((err if where is None else err[where]).mean())


def fitted(name: str) -> Scaler:
    """A standard scaler on the first 70% of a file: what `tsvq encode` gives unknown columns."""
    values = table(name).to_numpy()
    return Scaler.fit("standard", values[: int(len(values) * 0.7)])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument(
        "--max_windows",
        type=int,
        default=None,
        help="at most this many windows per row, the first ones (default: all)",
    )
    args = p.parse_args()
    win = functools.partial(windows, limit=args.max_windows)
    torch.set_num_threads(args.threads)
    tok = Tokenizer.from_pretrained(args.checkpoint)
    t = tok.cfg.context_points
    print(
        f"tokenizer: {tok.data.spec.dset} {tok.columns}, context {t}, "
        f"{tok.cfg.num_embeddings} codes, cf {tok.cfg.compression_factor}"
    )
    print("\nreconstruction MSE in each window's RevIN space (1.0 = the window's mean)")
    rows: list[tuple[str, int, float]] = []
    ett = test_rows("etth1", 512)
    x = win(ett[512 - t :], t, 1)
    rows.append((f"ETTh1 test, T={t} (training data)", len(x), revin_mse(tok, x)))
    for length in (16, 48, 192, 512):
        x = win(ett[512 - length :], length, max(1, length // 4))
        rows.append((f"ETTh1 test, T={length}", len(x), revin_mse(tok, x)))
    x = win(ett[512 - t :, 6:], t, 1)
    rows.append(("ETTh1 test, OT alone, named", len(x), revin_mse(tok, x, columns=["OT"])))
    rows.append(("ETTh1 test, OT alone, unnamed", len(x), revin_mse(tok, x)))
    for name in ("weather", "exchange", "illness"):
        v = test_rows(name, t)
        x = win(v, t, 1 if name == "illness" else 4)
        cols = [f"{name}{i}" for i in range(v.shape[1])]
        rows.append(
            (
                f"{name} last 20% ({v.shape[1]} cols), T={t}",
                len(x),
                revin_mse(tok, x, columns=cols, scaler=fitted(name), ref=fitted(name)),
            )
        )
    # gaps: 5% of cells and one 12-step block per window missing, error on all / filled cells
    rng = np.random.default_rng(0)
    x = win(ett[512 - t :], t, 4)
    gappy = np.array(x)
    holes = rng.random(x.shape) < 0.05
    block = rng.integers(0, t - 12, len(x))
    for i, b in enumerate(block):
        holes[i, b : b + 12, i % x.shape[2]] = True
    gappy[holes] = np.nan
    enc = tok.encode(gappy, missing="interpolate")
    y = tok.decode(enc)
    rows.append(("ETTh1 test, no gaps (same windows)", len(x), revin_mse(tok, x)))
    rows.append(("  5% cells + a 12-step block missing", len(x), revin_mse(tok, x, y)))
    rows.append(
        ("  ... on the missing cells only", int(holes.sum()), revin_mse(tok, x, y, where=holes))
    )
    print(f"  (mask: {enc.mask.mean():.1%} of tokens touched a filled value)")
    # a forecast target on its context's statistics vs its own
    v = ett[512 - t :]
    ctx = win(v[:-t], t, t // 2)
    tgt = win(v[t:], t, t // 2)[: len(ctx)]
    ce = tok.encode(ctx)
    te = tok.encode(tgt, mean=ce.mean, std=ce.std)
    rows.append(
        ("target on its context's statistics", len(tgt), revin_mse(tok, tgt, tok.decode(te)))
    )
    rows.append(("target on its own statistics", len(tgt), revin_mse(tok, tgt)))
    print(f"{'':<44}{'windows':>9}{'MSE':>9}")
    for name, n, mse in rows:
        print(f"{name:<44}{n:>9,}{mse:>9.4f}")

    print(f"\nRevIN epsilon ({EPS:g}) on columns no training scaler scales")
    x = win(ett[512 - t :], t, 1)
    new = [f"new{i}" for i in range(7)]
    same = np.mean(tok.encode(x).codes == tok.encode(x, columns=new).codes)
    print(
        f"  ETTh1 test, its 7 columns unscaled vs its scaler: {same:.4%} codes equal; MSE "
        f"{revin_mse(tok, x, columns=new):.4f} vs {revin_mse(tok, x):.4f}"
    )
    own = fitted("exchange")
    x = win(test_rows("exchange", t), t, 4)
    var = x.var(axis=1)
    cols = [f"e{i}" for i in range(x.shape[2])]
    same = np.mean(
        tok.encode(x, columns=cols).codes == tok.encode(x, columns=cols, scaler=own).codes
    )
    print(
        f"  exchange_rate (window variance median {np.median(var):.2e}, "
        f"{np.mean(var < 10 * EPS):.1%} of window-channels below 10 x eps): unscaled vs "
        f"standardized on its first 70% (what tsvq encode does): {same:.2%} codes equal; MSE "
        f"{revin_mse(tok, x, columns=cols, ref=own):.4f} vs "
        f"{revin_mse(tok, x, columns=cols, scaler=own, ref=own):.4f}"
    )

    print("\ntokens file for ETTh1's test split (stride 1)")
    with tempfile.TemporaryDirectory() as d:
        out = Path(d) / "t.npz"
        n, c, length, _ = encode_csv(
            tok, DATA / FILES["etth1"], "etth1", "test", 1, None, "error", out
        )
        with np.load(out) as f:
            arrays = dict(f)
        old = Path(d) / "int64.npz"
        np.savez(old, **{**arrays, "codes": arrays["codes"].astype(np.int64)})
        print(
            f"  {n} windows x {c} channels x {length // tok.cfg.compression_factor} tokens: "
            f"codes {arrays['codes'].dtype} file {out.stat().st_size / 1e6:.2f} MB, int64 "
            f"codes {old.stat().st_size / 1e6:.2f} MB "
            f"(codes alone {arrays['codes'].nbytes / 1e6:.2f} vs "
            f"{arrays['codes'].nbytes * 8 / 1e6:.2f} MB)"
        )


if __name__ == "__main__":
    main()
