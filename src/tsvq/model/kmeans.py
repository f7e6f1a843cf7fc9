"""k-means on the rows of a matrix: a k-means++ start and Lloyd's iterations, bounded in memory.

The assignment step works through the rows in chunks, so a large codebook over a large sample
never builds the whole [n, k] distance matrix. Everything is a function of the rows and the
generator: the same inputs give the same centroids.
"""

from __future__ import annotations

import math

import torch

# Distances per assignment chunk: about 1 MiB, so each chunk's [rows, k] block stays in cache
# between the product and the argmin; at least MIN_ROWS rows, below which the calls' own cost
# dominates (measured on a 2-core CPU: 2^18 entries about 5x faster than 2^23).
CHUNK_ENTRIES = 1 << 18
MIN_ROWS = 1024


def nearest(x: torch.Tensor, centroids: torch.Tensor) -> torch.Tensor:
    """Index of the nearest centroid (squared Euclidean distance) for each row of `x` [n, D]."""
    sq = (centroids * centroids).sum(dim=1)
    step = max(MIN_ROWS, CHUNK_ENTRIES // max(1, centroids.shape[0]))
    parts = [
        torch.addmm(sq, x[i : i + step], centroids.t(), alpha=-2.0).min(dim=1).indices
        for i in range(0, x.shape[0], step)
    ]
    return torch.cat(parts) if parts else torch.zeros(0, dtype=torch.long)


def kmeans_plus_plus(x: torch.Tensor, k: int, generator: torch.Generator) -> torch.Tensor:
    """k starting centroids drawn from the rows of `x` [n, D] by greedy k-means++ (Arthur and
    Vassilvitskii, 2007): each step draws 2 + log(k) candidates with probability proportional
    to their squared distance from the nearest centroid so far and keeps the one that lowers
    the total the most (as scikit-learn does). Fewer distinct rows than `k`: rows repeat."""
    n = x.shape[0]
    trials = 2 + int(math.log(k))
    x64 = x.double()
    norms = (x64 * x64).sum(dim=1)

    def sq_dist(rows: torch.Tensor) -> torch.Tensor:  # [len(rows), n]: ||x_i - x||^2
        return (norms[rows, None] - 2 * (x64[rows] @ x64.t()) + norms).clamp_min_(0)

    picks = [int(torch.randint(n, (1,), generator=generator))]
    d2 = sq_dist(torch.tensor(picks))[0]
    for _ in range(1, k):
        cum = torch.cumsum(d2, dim=0)  # draws by inverse CDF: O(n), unlike multinomial
        if not cum[-1] > 0:  # every row already sits on a centroid
            picks.append(int(torch.randint(n, (1,), generator=generator)))
            continue
        u = torch.rand(trials, generator=generator, dtype=torch.float64) * cum[-1]
        # the first row whose cumulative weight exceeds u: never a row of weight 0
        rows = torch.searchsorted(cum, u, right=True).clamp_max_(n - 1)
        after = torch.minimum(d2, sq_dist(rows))  # [trials, n]
        best = int(after.sum(dim=1).argmin())
        picks.append(int(rows[best]))
        d2 = after[best]
    return x[torch.tensor(picks)].clone()


def lloyd(
    x: torch.Tensor, centroids: torch.Tensor, iters: int, generator: torch.Generator
) -> torch.Tensor:
    """`iters` of Lloyd's iterations from `centroids` [k, D]; returns the new centroids.

    A cluster left empty is moved onto a random row, so every centroid stays on the data.
    """
    centroids = centroids.clone()
    k = centroids.shape[0]
    for _ in range(iters):
        assign = nearest(x, centroids)
        counts = torch.bincount(assign, minlength=k).to(x.dtype)
        sums = torch.zeros_like(centroids).index_add_(0, assign, x)
        empty = counts == 0
        centroids = torch.where(empty[:, None], centroids, sums / counts.clamp_min(1)[:, None])
        if empty.any():
            rows = torch.randint(x.shape[0], (int(empty.sum()),), generator=generator)
            centroids[empty] = x[rows]
    return centroids


def kmeans(x: torch.Tensor, k: int, iters: int, seed: int) -> torch.Tensor:
    """k-means++ then `iters` Lloyd iterations on the rows of `x` [n, D]: centroids [k, D]."""
    if x.ndim != 2 or x.shape[0] == 0:
        raise ValueError(f"kmeans needs a non-empty [n, D] matrix, got shape {tuple(x.shape)}")
    if k < 1:
        raise ValueError(f"kmeans needs k >= 1, got {k}")
    generator = torch.Generator().manual_seed(seed)
    return lloyd(x, kmeans_plus_plus(x, k, generator), iters, generator)
