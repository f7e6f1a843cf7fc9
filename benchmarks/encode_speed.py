"""Tokenizer throughput on the CPU: windows per second for encode and decode, and a long file.

Side by side with the bare model (VQVAE.encode / decode on series already scaled, in passes of
the same size), so the figures also show what the Tokenizer's checks, scaling and copies cost.
Without --checkpoint it times an untrained model of the given shape (speed does not depend on
the weights) on a random walk.

--file_rows N also writes a CSV of N rows (date + C random-walk columns) and times `tsvq encode
--dset custom --split all` on it (CSV parsing, streaming and the tokens file included) against
the bare model on the same windows held in memory. --rss_rows N1,N2,... runs `tsvq encode` in a
child process on files of those lengths and prints each one's peak resident memory: the
streaming bound shows as a figure that does not grow with the file.

    PYTHONPATH=src python benchmarks/encode_speed.py [--checkpoint RUN.pth] [--windows 2000]
        [--threads N] [--batch_size WINDOWS] [--file_rows 200000] [--stride 1]
        [--rss_rows 100000,1000000]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from tsvq import Tokenizer
from tsvq.data.record import DataRecord
from tsvq.data.windows import DataSpec, Scaler
from tsvq.model.revin import RevinStats
from tsvq.model.vqvae import VQVAE, ModelConfig
from tsvq.tokens.codec import encode_csv
from tsvq.tokens.passes import per_pass


def untrained(context_points: int, channels: int, num_embeddings: int) -> Tokenizer:
    cfg = ModelConfig(context_points=context_points, num_embeddings=num_embeddings)
    spec = DataSpec("custom", None, None, context_points, "none")
    scaler = Scaler("none", np.zeros(channels, np.float32), np.ones(channels, np.float32))
    data = DataRecord(spec, scaler, tuple(f"c{i}" for i in range(channels)), channels)
    return Tokenizer(VQVAE(cfg), data)  # its model is in eval mode


def write_walk(path: Path, rows: int, channels: int, seed: int = 0) -> None:
    """A CSV of `rows` hourly rows: date, then `channels` random-walk columns (written in parts)."""
    rng = np.random.default_rng(seed)
    level = np.zeros(channels)
    start = np.datetime64("2000-01-01T00:00")
    with open(path, "w") as fh:
        fh.write("date," + ",".join(f"c{i}" for i in range(channels)) + "\n")
        for lo in range(0, rows, 100_000):
            n = min(100_000, rows - lo)
            walk = level + np.cumsum(rng.standard_normal((n, channels)), axis=0)
            level = walk[-1]
            dates = (start + np.arange(lo, lo + n).astype("timedelta64[h]")).astype(str)
            for d, row in zip(dates, walk, strict=True):
                fh.write(d + "," + ",".join(f"{v:.4f}" for v in row) + "\n")


def windows_per_pass(tok: Tokenizer, batch_size: int | None) -> int:
    """--batch_size, else the Tokenizer's default pass (`per_pass`: about 32,768 values). Both
    sides are given it explicitly, so they do the same work per pass."""
    return batch_size or per_pass(tok.cfg.context_points * tok.n_channels)


def best_of(fn: Callable[[], object], repeat: int) -> float:
    """Median seconds of `repeat` timed calls after one warm-up call."""
    fn()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--checkpoint", default=None, help="a .pth or exported folder (default: none)")
    p.add_argument("--context_points", type=int, default=96)
    p.add_argument("--channels", type=int, default=7)
    p.add_argument("--num_embeddings", type=int, default=256)
    p.add_argument("--windows", type=int, default=2000)
    p.add_argument("--batch_size", type=int, default=None, help="windows per pass")
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--file_rows", type=int, default=0, help="time a long CSV of N rows too")
    p.add_argument("--stride", type=int, default=1, help="window stride for --file_rows")
    p.add_argument("--rss_rows", default="", help="peak RSS of `tsvq encode` on files of N rows")
    p.add_argument(
        "--rss_channels",
        type=int,
        default=None,
        help="columns of the --rss_rows files (default: the tokenizer's)",
    )
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    if args.checkpoint:
        tok = Tokenizer.from_pretrained(args.checkpoint)
    else:
        tok = untrained(args.context_points, args.channels, args.num_embeddings)
    t, c = tok.cfg.context_points, tok.n_channels
    rng = np.random.default_rng(0)
    x = (
        np.cumsum(rng.standard_normal((args.windows, t, c)), axis=1) * tok.scaler.scale
        + tok.scaler.shift
    ).astype(np.float32)  # [B, T, C], original units
    batch = windows_per_pass(tok, args.batch_size)
    enc = tok.encode(x, batch_size=batch)

    # The bare model on the same work: scaled series [B*C, T], the same number per pass.
    per_pass = batch * c
    series = torch.from_numpy(
        ((x - tok.scaler.shift) / tok.scaler.scale).transpose(0, 2, 1).reshape(-1, t).copy()
    )
    codes = torch.from_numpy(enc.codes.reshape(-1, tok.n_tokens))
    stats = RevinStats(
        torch.from_numpy(enc.mean.reshape(-1, 1)), torch.from_numpy(enc.std.reshape(-1, 1))
    )

    @torch.inference_mode()
    def bare_encode() -> None:
        for s in series.split(per_pass):
            tok.model.encode(s)

    @torch.inference_mode()
    def bare_decode() -> None:
        for lo in range(0, len(codes), per_pass):
            hi = lo + per_pass
            tok.model.decode(codes[lo:hi], RevinStats(stats.mean[lo:hi], stats.std[lo:hi]))

    rows = [
        ("Tokenizer.encode", best_of(lambda: tok.encode(x, batch_size=batch), args.repeat)),
        ("VQVAE.encode (bare)", best_of(bare_encode, args.repeat)),
        ("Tokenizer.decode", best_of(lambda: tok.decode(enc, batch_size=batch), args.repeat)),
        ("VQVAE.decode (bare)", best_of(bare_decode, args.repeat)),
    ]
    cfg = tok.cfg
    print(
        f"CPU, {torch.get_num_threads()} thread(s); model cw{t} ps{cfg.patch_size} "
        f"cf{cfg.compression_factor} cb{cfg.num_embeddings} "
        f"({tok.model.num_parameters():,} parameters); {args.windows} windows x {c} channel(s), "
        f"{per_pass} series per pass; median of {args.repeat}"
    )
    print(f"{'':<22}{'windows/s':>12}{'series/s':>12}")
    for name, seconds in rows:
        w = args.windows / seconds
        print(f"{name:<22}{w:>12,.0f}{w * c:>12,.0f}")
    if args.file_rows:
        long_file(tok, args.file_rows, args.stride, args.batch_size, args.repeat)
    if args.rss_rows:
        peak_rss(
            args.checkpoint,
            tok,
            [int(n) for n in args.rss_rows.split(",")],
            args.stride,
            args.rss_channels or tok.n_channels,
        )


def long_file(tok: Tokenizer, rows: int, stride: int, batch_size: int | None, repeat: int) -> None:
    """`encode_csv` on a long generated file against the bare model on its windows."""
    t, c = tok.cfg.context_points, tok.n_channels
    with tempfile.TemporaryDirectory() as d:
        csv = Path(d) / "long.csv"
        write_walk(csv, rows, c)
        cols = [f"c{i}" for i in range(c)]
        n = (rows - t) // stride + 1
        batch = windows_per_pass(tok, batch_size)
        file_s = best_of(
            lambda: encode_csv(
                tok, csv, "custom", "all", stride, None, "error", Path(d) / "t.npz", batch
            ),
            max(1, repeat - 2),
        )
        values = np.loadtxt(
            csv, delimiter=",", skiprows=1, usecols=range(1, c + 1), dtype=np.float32
        )
        x = np.lib.stride_tricks.sliding_window_view(values, t, axis=0)[::stride]  # [n, C, T]
        scaler, _ = tok.scaler_for(c, cols)
        series = torch.from_numpy(
            ((x.transpose(0, 2, 1) - scaler.shift) / scaler.scale)
            .transpose(0, 2, 1)
            .reshape(-1, t)
            .copy()
        )
        per_pass = batch * c

        @torch.inference_mode()
        def bare() -> None:
            for s in series.split(per_pass):
                tok.model.encode(s)

        bare_s = best_of(bare, max(1, repeat - 2))
        size = (Path(d) / "t.npz").stat().st_size
    print(
        f"\nlong file: {rows:,} rows x {c} channel(s), stride {stride}: {n:,} windows, tokens "
        f"file {size / 1e6:.1f} MB"
    )
    print(f"{'tsvq encode (file)':<22}{n / file_s:>12,.0f}{n * c / file_s:>12,.0f}")
    print(f"{'VQVAE.encode (bare)':<22}{n / bare_s:>12,.0f}{n * c / bare_s:>12,.0f}")
    print(f"ratio file / bare: {bare_s / file_s:.2f}")


# The child's own peak: VmHWM belongs to the process image exec made (Linux). getrusage's
# ru_maxrss would not do: exec carries over the high-water mark of the forked parent.
PEAK = (
    "print(next(int(line.split()[1]) for line in open('/proc/self/status') "
    "if line.startswith('VmHWM')))"
)


def peak_rss(
    checkpoint: str | None, tok: Tokenizer, lengths: list[int], stride: int, channels: int
) -> None:
    """Peak resident memory of `tsvq encode --split all` in a fresh process, per file length."""
    with tempfile.TemporaryDirectory() as d:
        folder = checkpoint
        if folder is None:
            folder = str(Path(d) / "tok")
            tok.save_pretrained(folder)
        print(
            f"\npeak RSS of `tsvq encode --split all --stride {stride}` on {channels} "
            "column(s) (one process each)"
        )
        load_only = (
            "import sys; import tsvq.tokens.codec; from tsvq import Tokenizer; "
            f"Tokenizer.from_pretrained(sys.argv[1]); {PEAK}"
        )
        base = subprocess.run(
            [sys.executable, "-c", load_only, folder],
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[1] / "src")},
        )
        print(
            f"baseline (imports and the tokenizer loaded, nothing encoded): "
            f"{int(base.stdout.split()[-1]) / 1024:.0f} MB"
        )
        print(f"{'rows':>12}{'windows':>12}{'file MB':>10}{'tokens MB':>11}{'peak RSS MB':>13}")
        for rows in lengths:
            csv = Path(d) / f"walk{rows}.csv"
            write_walk(csv, rows, channels)
            out = Path(d) / "t.npz"
            code = f"import sys; from tsvq.cli import main; rc = main(sys.argv[1:]); {PEAK}"
            run = subprocess.run(
                [
                    sys.executable,
                    "-c",
                    code,
                    "encode",
                    "--checkpoint",
                    folder,
                    "--dset",
                    "custom",
                    "--data_path",
                    str(csv),
                    "--split",
                    "all",
                    "--stride",
                    str(stride),
                    "--out",
                    str(out),
                ],
                capture_output=True,
                text=True,
                check=True,
                env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[1] / "src")},
            )
            peak_kb = int(run.stdout.strip().splitlines()[-1])  # kB
            n = (rows - tok.cfg.context_points) // stride + 1
            print(
                f"{rows:>12,}{n:>12,}{csv.stat().st_size / 1e6:>10.1f}"
                f"{out.stat().st_size / 1e6:>11.1f}{peak_kb / 1024:>13.0f}"
            )
            csv.unlink()


if __name__ == "__main__":
    main()
