"""The forecaster: tokens of a context through a transformer encoder to the horizon's values.

TOTEM's forecaster is the reference design (its `forecasting/` code, read, not copied): the
context's code vectors, a sinusoidal position, a post-norm transformer encoder, and a linear
head over all token outputs predict the horizon normalised by its own mean and std; a separate
MLP over the context predicts that mean and std. Here every one of those lives in the context's
RevIN space (the context has mean 0 and std 1 there), so the mean and std are the horizon's
shift and scale against its context, and the same weights serve series of any level and scale:

    z = (y - mu_c) / sigma_c                 the target in its context's RevIN space
    m, s = mean(z), std(z)                   the shift and scale the MLP predicts
    u = (z - m) / s                          the shape the transformer predicts
    y_hat = mu_c + sigma_c * (m_hat + s_hat * u_hat)

Series are channel-independent: each channel of each window is one series [N, T].
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
from torch import nn

from tsvq.forecast.config import ForecastConfig
from tsvq.model.revin import EPS


class Forecast(NamedTuple):
    """A forecast of N series in their contexts' RevIN space."""

    shape: torch.Tensor  # [N, H]: the horizon normalised by its own mean and std
    mean: torch.Tensor  # [N]: the horizon's mean
    std: torch.Tensor  # [N]: the horizon's std

    def values(self) -> torch.Tensor:
        """The horizon [N, H] in the context's RevIN space."""
        return self.mean[:, None] + self.std[:, None] * self.shape

    def scaled(self, mean: torch.Tensor, std: torch.Tensor) -> torch.Tensor:
        """The horizon [N, H] in the data's scaled units, given the contexts' RevIN mean and
        std [N]."""
        return mean[:, None] + std[:, None] * self.values().float()


class Targets(NamedTuple):
    """The truth a `Forecast` is trained against, in the same space."""

    shape: torch.Tensor  # [N, H]
    mean: torch.Tensor  # [N]
    std: torch.Tensor  # [N]


def targets(z: torch.Tensor) -> Targets:
    """The horizon `z` [N, H] (in its context's RevIN space) as shape, mean and std."""
    mean = z.mean(dim=-1)
    std = torch.sqrt(z.var(dim=-1, unbiased=False) + EPS)
    return Targets((z - mean[:, None]) / std[:, None], mean, std)


def positions(n: int, d: int) -> torch.Tensor:
    """Sinusoidal position codes [n, d] (Vaswani et al.), as TOTEM's forecaster adds them."""
    pos = torch.arange(n, dtype=torch.float32)[:, None]
    freq = torch.exp(-torch.arange(0, d, 2, dtype=torch.float32) * math.log(10000.0) / d)
    out = torch.zeros(n, d)
    out[:, 0::2] = torch.sin(pos * freq)
    out[:, 1::2] = torch.cos(pos * freq[: d // 2])
    return out


class Forecaster(nn.Module):
    """`ForecastConfig` as a module; `codebook` [vocab_size, code_dim] for inputs="codes".

    The codebook is a buffer kept out of the state dict: it belongs to the tokenizer (frozen,
    checked by fingerprint when a forecaster is loaded), never to the forecaster's training.
    """

    codebook: torch.Tensor  # [vocab_size, code_dim], a buffer (codes only)
    position: torch.Tensor  # [n_positions, d_model], a buffer

    def __init__(self, cfg: ForecastConfig, codebook: torch.Tensor | None = None) -> None:
        super().__init__()
        self.cfg = cfg
        if cfg.inputs == "codes":
            if codebook is None or tuple(codebook.shape) != (cfg.vocab_size, cfg.code_dim):
                got = None if codebook is None else tuple(codebook.shape)
                raise ValueError(
                    f"inputs='codes' needs the tokenizer's codebook [{cfg.vocab_size}, "
                    f"{cfg.code_dim}], got {got}"
                )
            self.register_buffer("codebook", codebook.detach().float().clone(), persistent=False)
        self.embed = nn.Linear(cfg.group * cfg.token_dim, cfg.d_model)
        self.register_buffer("position", positions(cfg.n_positions, cfg.d_model), persistent=False)
        layer = nn.TransformerEncoderLayer(
            cfg.d_model, cfg.n_heads, cfg.d_ff, cfg.dropout, batch_first=True
        )
        self.encoder = nn.TransformerEncoder(layer, cfg.n_layers, enable_nested_tensor=False)
        self.head = nn.Linear(cfg.n_positions * cfg.d_model, cfg.horizon)
        # the context's values and its level and log scale (in the data's scaled units)
        self.stats = nn.Sequential(
            nn.Linear(cfg.context_points + 2, cfg.stats_hidden),
            nn.ReLU(),
            nn.Dropout(cfg.stats_dropout),
            nn.Linear(cfg.stats_hidden, cfg.stats_hidden),
            nn.ReLU(),
            nn.Dropout(cfg.stats_dropout),
            nn.Linear(cfg.stats_hidden, 2),
        )
        for p in self.parameters():
            if p.dim() > 1:
                nn.init.xavier_uniform_(p)
        # a learned vector per id added to its code vector, zero at first: the forecaster starts
        # from the codebook's geometry and may move each code from there
        self.ids = None
        if cfg.id_embedding:
            self.ids = nn.Embedding(cfg.vocab_size, cfg.code_dim)
            nn.init.zeros_(self.ids.weight)

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def tokens(self, context: torch.Tensor, ids: torch.Tensor | None) -> torch.Tensor:
        """The inputs [N, n_positions, group * token_dim] of normalised contexts [N, L]."""
        n, cfg = context.shape[0], self.cfg
        if cfg.inputs == "patches":
            return context.reshape(n, cfg.n_positions, cfg.group * cfg.token_len)
        if ids is None:
            raise ValueError("inputs='codes' needs the context's code ids [N, n_tokens]")
        vectors = self.codebook[ids]  # [N, n_tokens, code_dim]: plain indexing, no one-hot
        if self.ids is not None:
            vectors = vectors + self.ids(ids)
        return vectors.reshape(n, cfg.n_positions, cfg.group * cfg.code_dim)

    def forward(
        self,
        context: torch.Tensor,
        mean: torch.Tensor,
        std: torch.Tensor,
        ids: torch.Tensor | None = None,
    ) -> Forecast:
        """Contexts [N, L] in their own RevIN space, their statistics [N] (scaled units) and,
        for codes, their code ids [N, n_tokens] -> the `Forecast` in the same space."""
        h = self.embed(self.tokens(context, ids))  # [N, n_positions, d_model]
        h = self.encoder(h + self.position)
        shape = self.head(h.flatten(1))  # [N, H]
        level = torch.stack([mean, torch.log(std)], dim=-1).to(context.dtype)  # [N, 2]
        stats = self.stats(torch.cat([context, level], dim=-1))  # [N, 2]
        # the context's own std is 1 here: the head learns the horizon's scale around it
        return Forecast(shape, stats[:, 0], 1.0 + stats[:, 1])
