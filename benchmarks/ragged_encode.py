"""A list of series of different lengths: `tok.encode(list)` in shared passes against a loop of
one `encode` per series.

    python benchmarks/ragged_encode.py [--series 1000] [--min_len 50] [--max_len 300]
                                       [--repeats 3] [--threads 1]

ETTh1's OT column is cut into `--series` consecutive series of random lengths (padded with
pad="edge" where not whole patches), and a tokenizer of the default shape (context 96, patch
16, compression 4, 256 codes; untrained: speed does not depend on the weights) encodes and
decodes them, interleaved and repeated: a loop of one call per series (the baseline), and one
call with the whole list. The codes of the two are compared (they must be equal). Ratios are
against the loop, measured in this one process, so a busy machine moves both alike.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import numpy as np
import pandas as pd
import torch

from tsvq.data.record import DataRecord
from tsvq.data.registry import resolve_path
from tsvq.data.windows import DataSpec, Scaler
from tsvq.model.vqvae import VQVAE, ModelConfig
from tsvq.tokens.tokenizer import Tokenizer


def tokenizer() -> Tokenizer:
    torch.manual_seed(0)
    scaler = Scaler("standard", np.zeros(1, np.float32), np.ones(1, np.float32))
    data = DataRecord(DataSpec("custom", None, None, 96), scaler, ("OT",), 1)
    return Tokenizer(VQVAE(ModelConfig(context_points=96)), data)


def series(n: int, lo: int, hi: int, seed: int = 0) -> list[np.ndarray]:
    """`n` consecutive pieces of ETTh1's OT, of lengths drawn from lo..hi (wrapping around)."""
    ot = pd.read_csv(resolve_path("etth1", None, None))["OT"].to_numpy(np.float32)
    lengths = np.random.default_rng(seed).integers(lo, hi + 1, size=n)
    starts = np.cumsum(np.concatenate([[0], lengths[:-1]])) % (len(ot) - hi)
    return [ot[s : s + t].copy() for s, t in zip(starts, lengths, strict=True)]


def timed(fn: Callable[[], object]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--series", type=int, default=1000)
    ap.add_argument("--min_len", type=int, default=50)
    ap.add_argument("--max_len", type=int, default=300)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1, help="torch threads")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    tok, xs = tokenizer(), series(args.series, args.min_len, args.max_len)
    one_by_one = [tok.encode(x, pad="edge") for x in xs]
    together = tok.encode(xs, pad="edge")
    same = all(np.array_equal(a.codes, b.codes) for a, b in zip(one_by_one, together, strict=True))
    runs: dict[str, Callable[[], object]] = {
        "encode, a loop (baseline)": lambda: [tok.encode(x, pad="edge") for x in xs],
        "encode, one list": lambda: tok.encode(xs, pad="edge"),
        "decode, a loop (baseline)": lambda: [tok.decode(e) for e in one_by_one],
        "decode, one list": lambda: tok.decode(together),
    }
    times: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(args.repeats):  # interleaved: a busy machine slows every one alike
        for name, fn in runs.items():
            times[name].append(timed(fn))
    steps = sum(len(x) for x in xs)
    print(
        f"series: {args.series:,} of {args.min_len}..{args.max_len} steps ({steps:,} in all), "
        f"{args.threads} thread(s); the same codes in both: {'yes' if same else 'NO'}"
    )
    print(f"{'':<28}{'seconds':>10}{'ratio':>9}")
    for name, ts in times.items():
        base = statistics.median(times[name.split(",")[0] + ", a loop (baseline)"])
        median = statistics.median(ts)
        print(f"{name:<28}{median:>10.3f}{median / base:>9.3f}")
    print(f"(medians of {args.repeats}; ratio: against the loop of one call per series)")


if __name__ == "__main__":
    main()
