"""Random smooth series: shapes no benchmark has enough of, for a tokenizer meant for any data.

Each series is a sum of a random trend, a random number of seasonal terms and a random smooth
function (random Fourier features of a squared-exponential kernel, length scale drawn on a log
scale from a few steps to a few hundred), plus a little white noise, standardised. Weekly and
monthly data (illness, sales, demand) are made of such shapes; the hourly and 10-minute
benchmarks hold few of them. Deterministic in `seed`.
"""

from __future__ import annotations

import numpy as np

FEATURES = 32  # Fourier features per smooth term


def smooth_series(n: int, length: int, seed: int = 0) -> list[np.ndarray]:
    """`n` float32 series of `length` steps, each standardised (mean 0, std 1)."""
    if n < 0 or length < 2:
        raise ValueError(f"need n >= 0 and length >= 2, not n={n}, length={length}")
    rng = np.random.default_rng(seed)
    t = np.arange(length, dtype=np.float64)
    out = []
    for _ in range(n):
        scale = np.exp(rng.uniform(np.log(3.0), np.log(300.0)))  # the kernel's length scale
        w = rng.normal(0.0, 1.0 / scale, FEATURES)
        phase = rng.uniform(0.0, 2 * np.pi, FEATURES)
        x = np.cos(np.outer(t, w) + phase) @ rng.normal(0.0, 1.0, FEATURES)
        for _ in range(rng.integers(0, 3)):  # seasonal terms
            period = np.exp(rng.uniform(np.log(4.0), np.log(400.0)))
            x += rng.uniform(0.2, 2.0) * np.sin(2 * np.pi * t / period + rng.uniform(0, 2 * np.pi))
        x += rng.normal(0.0, 2.0) * t / length  # trend
        x = (x - x.mean()) / (x.std() + 1e-12)
        x += rng.uniform(0.0, 0.1) * rng.normal(0.0, 1.0, length)  # noise
        out.append(((x - x.mean()) / (x.std() + 1e-12)).astype(np.float32))
    return out
