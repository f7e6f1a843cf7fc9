"""How a new run starts: the network as the raw-segment codebook, the codebook from the data.

`begin` runs once, before the first step of a run that is not resumed. A fine-tuned run
(`init="pretrained"`) starts from a trained tokenizer's weights and codebook; with
`codebook_init="kmeans"` (the default) the codebook is then refitted to the new data: Lloyd's
iterations from the tokenizer's codes on the encoder's outputs of a random sample of training
series, so codes the new data does not use move to where it lies (`"uniform"` keeps it as it
was). With `init="segments"`
the encoder and decoder pass each token's time steps through unchanged
(`model.segment_start`), and with `codebook_init="kmeans"` the codebook is k-means of the
encoder's outputs on a random sample of training series, drawn from the whole split (not the
first batch alone). Together the run starts at the network-free baseline's quality and trains
from there.
"""

from __future__ import annotations

import numpy as np
import torch

from tsvq.config import TrainConfig
from tsvq.data.windows import SeriesData
from tsvq.errors import TsvqError
from tsvq.model.quantizer import KMEANS_SAMPLES
from tsvq.model.segment_start import segment_start, segment_start_fits
from tsvq.model.vqvae import VQVAE

SAMPLE_CHUNK = 512  # series encoded per pass


# the quantizer's counters: a fine-tuned run counts its own steps, usage and restarts
COUNTERS = ("quantizer.step", "quantizer.usage", "quantizer.restarts")


def begin(
    core: VQVAE, data: SeriesData, tcfg: TrainConfig, start: dict[str, torch.Tensor] | None = None
) -> None:
    """Set up the start of a new run on `core` (in place, before the optimizer sees it):
    `start`, a trained model's state (`init="pretrained"`, its shapes checked by the caller),
    gives its weights and codebook (refitted to `data` under codebook_init="kmeans"); else the
    segment start and the k-means codebook."""
    if tcfg.init == "pretrained" and start is None:
        raise TsvqError(f"init='pretrained' ({tcfg.init_from}) needs the tokenizer's weights")
    if start is not None:
        kept = {k: v for k, v in start.items() if k not in COUNTERS}
        core.load_state_dict({**core.state_dict(), **kept})  # strict: every name, every shape
        if core.cfg.codebook_init == "kmeans":
            core.quantizer.refit(sample_latents(core, data, tcfg.seed))
        return
    if tcfg.init == "segments" and segment_start_fits(core.cfg):
        segment_start(core)
    if core.quantizer.needs_init:
        core.quantizer.initialise(sample_latents(core, data, tcfg.seed))


@torch.no_grad()
def sample_latents(core: VQVAE, data: SeriesData, seed: int) -> torch.Tensor:
    """Encoder outputs [n, D] of training series drawn at random (about KMEANS_SAMPLES vectors),
    the same on every process."""
    views = data.windows("train")  # [n_windows, C, T], a view
    c = views.shape[1]
    n_series = views.shape[0] * c
    take = min(n_series, -(-KMEANS_SAMPLES // core.cfg.n_tokens))
    pick = np.sort(np.random.default_rng([seed, 1]).choice(n_series, size=take, replace=False))
    device = next(core.parameters()).device
    parts = []
    for i in range(0, take, SAMPLE_CHUNK):
        idx = pick[i : i + SAMPLE_CHUNK]
        x = torch.from_numpy(np.ascontiguousarray(views[idx // c, idx % c])).to(device)
        parts.append(core.latents(x).float())
    return torch.cat(parts)
