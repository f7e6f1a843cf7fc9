"""`tsvq train --init tsvq/ett|PATH` (and `tsvq.fit(..., init=...)`): a run that starts from a
trained tokenizer's weights and codebook, on any data.

The tokenizer is loaded through its door (a shipped name, a checkpoint, an exported folder or a
Hub repo id), and its model must have the shapes of the run's: the same patch, factor, codebook
and widths, or the run is refused in one line before anything is written. The window length
may differ (the model is patch-wise), and so may the data and its channels (channel-independent).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from tsvq.errors import TsvqError
from tsvq.model.vqvae import ModelConfig

# the fields that fix the weights' shapes (and the quantizer's buffers)
SHAPE_FIELDS = (
    "patch_size",
    "compression_factor",
    "num_embeddings",
    "embedding_dim",
    "block_hidden_size",
    "num_residual_layers",
    "res_hidden_size",
    "quantizer",
)


@dataclass(frozen=True)
class Start:
    """A fine-tuned run's start: the tokenizer's state, as named, and its fingerprint."""

    state: dict[str, torch.Tensor]
    source: str
    fingerprint: str


def pretrained_start(source: str, cfg: ModelConfig, flag: str = "--init") -> Start:
    """The weights and codebook of tokenizer `source` for a run of model `cfg`; a tokenizer of
    other shapes is refused, naming each flag that differs."""
    from tsvq.tokens.tokenizer import Tokenizer

    tok = Tokenizer.from_pretrained(source)
    theirs = tok.cfg
    differ = [
        f"--{f} {getattr(theirs, f)} (this run: {getattr(cfg, f)})"
        for f in SHAPE_FIELDS
        if getattr(theirs, f) != getattr(cfg, f)
    ]
    if differ:
        raise TsvqError(
            f"{flag} {source}: its model does not fit this run's (size mismatch): it has "
            f"{', '.join(differ)}; give those flags to fine-tune it, or choose another tokenizer"
        )
    state = {k: v.detach().cpu().clone() for k, v in tok.model.state_dict().items()}
    return Start(state, source, str(tok.fingerprint))
