"""tsvq.model.kmeans: k-means++ and Lloyd's iterations, the codebook's start and the baseline's."""

from __future__ import annotations

import pytest
import torch

from tsvq.model import kmeans as km


def test_kmeans_finds_separated_clusters():
    g = torch.Generator().manual_seed(0)
    centres = torch.tensor([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]])
    x = torch.cat([c + 0.1 * torch.randn(200, 2, generator=g) for c in centres])
    got = km.kmeans(x, 3, 20, seed=1)
    dist = torch.cdist(centres, got).min(dim=1).values
    assert dist.max() < 0.1


def test_the_start_takes_one_row_of_each_far_cluster():
    """k-means++ draws by squared distance: three far clusters, three starts, one in each."""
    x = torch.tensor([[0.0, 0.0], [0.1, 0.0], [100.0, 0.0], [100.1, 0.0], [0.0, 100.0]])
    for seed in range(5):
        start = km.kmeans_plus_plus(x, 3, torch.Generator().manual_seed(seed))
        assert sorted(
            int(r) for r in km.nearest(start, torch.tensor([[0.0, 0], [100, 0], [0, 100]]))
        ) == [0, 1, 2]


@pytest.mark.parametrize("k", [1, 7, 300])
def test_nearest_in_chunks_is_the_whole_argmin(monkeypatch: pytest.MonkeyPatch, k: int):
    x, c = torch.randn(5000, 4), torch.randn(k, 4)
    monkeypatch.setattr(km, "MIN_ROWS", 16)
    monkeypatch.setattr(km, "CHUNK_ENTRIES", 64)  # many small chunks, and a last short one
    assert torch.equal(km.nearest(x, c), torch.cdist(x, c).argmin(dim=1))


def test_an_emptied_cluster_moves_onto_the_data():
    x = torch.tensor([[0.0], [1.0], [2.0], [3.0]])
    start = torch.tensor([[0.0], [3.0], [50.0]])  # the third code wins no row
    out = km.lloyd(x, start, 1, torch.Generator().manual_seed(0))
    assert out[:2].flatten().tolist() == [0.5, 2.5]  # the means of their rows
    assert out[2].item() in x.flatten().tolist()  # the empty one: moved onto a row


def test_refuses_what_it_cannot_fit():
    with pytest.raises(ValueError, match="non-empty"):
        km.kmeans(torch.zeros(0, 3), 4, 5, seed=0)
    with pytest.raises(ValueError, match="k >= 1"):
        km.kmeans(torch.zeros(3, 3), 0, 5, seed=0)
