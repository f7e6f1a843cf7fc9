"""The TOTEM-shaped 1-D convolutional VQ-VAE, built in a loop from the compression factor."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Annotated, NamedTuple, cast

import torch
from torch import nn

from tsvq.checks import Bound, NonNegative, Positive, check_fields
from tsvq.config import Seed
from tsvq.errors import ConfigError
from tsvq.model.patchconv import PatchConv1d, PatchConvTranspose1d, run_flat
from tsvq.model.quantizer import CodebookInit, Gradient, Quantizer, VectorQuantizer
from tsvq.model.revin import RevinStats, denormalize, normalize

NonNegativeNumber = Annotated[float, Bound("a number >= 0", lambda v: v >= 0)]


@dataclass(frozen=True)
class ModelConfig:
    context_points: Positive = 512
    patch_size: Positive = 16
    embedding_dim: Positive = 32
    num_embeddings: Positive = 256
    compression_factor: int = 4  # checked by the stages it builds (`stage_strides`)
    block_hidden_size: Annotated[int, Bound("even and positive", lambda v: v > 0 == v % 2)] = 64
    num_residual_layers: NonNegative = 2
    res_hidden_size: Positive = 32
    commitment_cost: NonNegativeNumber = 0.25
    revin: bool = True
    quantizer: Quantizer = "ema"
    codebook_init: CodebookInit = "kmeans"
    dead_code_restart: NonNegative = 50
    dead_code_threshold: Annotated[float, Bound("in [0, 1)", lambda v: 0 <= v < 1)] = 0.0
    ema_decay: Annotated[float, Bound("in (0, 1)", lambda v: 0 < v < 1)] = 0.99
    gradient: Gradient = "balanced"
    seed: Seed = 0

    def __post_init__(self) -> None:
        check_fields(self)
        if self.context_points % self.patch_size:
            raise ConfigError(
                None,
                f"patch_size={self.patch_size} must divide context_points={self.context_points}",
            )
        try:
            stage_strides(self.compression_factor, self.patch_size)
        except ValueError as exc:
            raise ConfigError("compression_factor", str(exc)) from None

    @property
    def n_patches(self) -> int:
        return self.context_points // self.patch_size

    @property
    def tokens_per_patch(self) -> int:
        return self.patch_size // self.compression_factor

    @property
    def n_tokens(self) -> int:
        """Tokens per series: context_points / compression_factor."""
        return self.n_patches * self.tokens_per_patch

    def to_dict(self) -> dict:
        return asdict(self)


# ModelConfig fields that shape what a model computes: a file must state each (the others, the
# quantizer's training settings, take their defaults in files older than the field)
ARCHITECTURE = (
    "context_points",
    "patch_size",
    "embedding_dim",
    "num_embeddings",
    "compression_factor",
    "block_hidden_size",
    "num_residual_layers",
    "res_hidden_size",
    "revin",
)


def stage_strides(compression_factor: int, patch_size: int) -> list[int]:
    """Strides of the downsampling stages: two stride-2 stages, then more of stride 2 and 3."""
    cf = compression_factor
    rest = cf // 4 if cf >= 4 and cf % 4 == 0 else 0
    extra: list[int] = []
    for s in (2, 3):
        while rest > 1 and rest % s == 0:
            extra.append(s)
            rest //= s
    if rest != 1:
        raise ValueError(
            f"compression_factor={cf} cannot be built from stride-2 and stride-3 stages; "
            "allowed: 4 x 2^a x 3^b (4, 8, 12, 16, 24, 32, ...)"
        )
    if patch_size % cf:
        raise ValueError(
            f"compression_factor={cf} needs patch_size divisible by {cf}, got {patch_size}"
        )
    return [2, 2, *extra]


class ResidualStack(nn.Module):
    """`n` blocks relu(x) + (ReLU, conv k3 to res_hidden, ReLU, conv k1 back), then ReLU.

    TOTEM's block starts with an in-place `nn.ReLU(True)`, which rectifies the block's input
    itself before the skip connection adds it: a block returns relu(x) + block(x), not
    x + block(x). Written out here so the function is the same without in-place tricks.
    """

    def __init__(self, hidden: int, res_hidden: int, n: int, length: int) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(
            nn.Sequential(
                nn.ReLU(),
                PatchConv1d(hidden, res_hidden, 3, length=length, padding=1, bias=False),
                nn.ReLU(),
                PatchConv1d(res_hidden, hidden, 1, length=length, bias=False),
            )
            for _ in range(n)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """PyTorch's convolutions on [N, C, L] (the reference for `flat_forward`)."""
        for block in self.blocks:
            x = torch.relu(x) + block(x)
        return torch.relu(x)

    def flat_forward(self, x: torch.Tensor) -> torch.Tensor:
        """The same on position-major [N, L*C] (see patchconv), relu(x) computed once per
        block for the skip and the block's own first ReLU (one pass forward and back less)."""
        for block in self.blocks:
            r = torch.relu(x)
            x = r + run_flat(list(cast(nn.Sequential, block))[1:], r)
        return torch.relu(x)


def build_encoder(cfg: ModelConfig) -> nn.Sequential:
    h = cfg.block_hidden_size
    strides = stage_strides(cfg.compression_factor, cfg.patch_size)
    widths = [1, h // 2] + [h] * (len(strides))
    length = cfg.patch_size
    layers: list[nn.Module] = []
    for i, s in enumerate(strides):
        conv = PatchConv1d(widths[i], widths[i + 1], 4, length=length, stride=s, padding=1)
        layers += [conv, nn.ReLU()]
        length = conv.length_out
    # TOTEM keeps the ReLU after the last strided conv too, before the kernel-3 conv
    layers += [
        PatchConv1d(h, h, 3, length=length, padding=1),
        ResidualStack(h, cfg.res_hidden_size, cfg.num_residual_layers, length),
        PatchConv1d(h, cfg.embedding_dim, 1, length=length),
    ]
    return nn.Sequential(*layers)


def build_decoder(cfg: ModelConfig) -> nn.Sequential:
    h = cfg.block_hidden_size
    strides = stage_strides(cfg.compression_factor, cfg.patch_size)[::-1]
    widths = [h] * (len(strides) - 1) + [h // 2, 1]
    length = cfg.tokens_per_patch
    layers: list[nn.Module] = [
        PatchConv1d(cfg.embedding_dim, h, 3, length=length, padding=1),
        ResidualStack(h, cfg.res_hidden_size, cfg.num_residual_layers, length),
    ]
    for i, s in enumerate(strides):
        # kernel s + 2, padding 1: each stage multiplies the length by exactly s
        layers += [
            PatchConvTranspose1d(
                widths[i], widths[i + 1], s + 2, length=length, stride=s, padding=1
            ),
            nn.ReLU(),
        ]
        length *= s
    layers.pop()  # the last stage is linear
    return nn.Sequential(*layers)


class Reconstruction(NamedTuple):
    recon: torch.Tensor  # [N, T] in model space (RevIN-normalised when revin is on)
    target: torch.Tensor  # [N, T] the input in the same space
    codes: torch.Tensor  # [N, n_tokens]
    vq_loss: torch.Tensor
    perplexity: torch.Tensor
    counts: torch.Tensor  # [K]


class VQVAE(nn.Module):
    """Series [N, T] -> patches -> encoder -> quantizer -> decoder -> series [N, T]."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.cfg = cfg  # a ModelConfig checks itself when it is made
        self.encoder = build_encoder(cfg)
        self.quantizer = VectorQuantizer(
            cfg.num_embeddings,
            cfg.embedding_dim,
            cfg.commitment_cost,
            quantizer=cfg.quantizer,
            codebook_init=cfg.codebook_init,
            dead_code_restart=cfg.dead_code_restart,
            dead_code_threshold=cfg.dead_code_threshold,
            ema_decay=cfg.ema_decay,
            gradient=cfg.gradient,
            seed=cfg.seed,
        )
        self.decoder = build_decoder(cfg)

    @classmethod
    def skeleton(cls, cfg: ModelConfig) -> VQVAE:
        """The model on the meta device: the names, shapes and dtypes of its state, with
        nothing allocated (what a file's tensors are checked against before any is loaded)."""
        with torch.device("meta"):
            return cls(cfg)

    @classmethod
    def trained(cls, cfg: ModelConfig, state: dict[str, torch.Tensor]) -> VQVAE:
        """The model with `state` loaded (tensors already checked against its skeleton; a
        buffer of tsvq's own that `state` lacks keeps its initial value), in eval mode."""
        model = cls(cfg)
        model.load_state_dict({**model.state_dict(), **state}, strict=True)
        return model.eval()

    def num_parameters(self) -> int:
        """All parameters, the codebook included (trainable by gradient or by EMA)."""
        return sum(p.numel() for p in self.parameters())

    def _to_model_space(self, x: torch.Tensor) -> tuple[torch.Tensor, RevinStats | None]:
        if self.cfg.revin:
            return normalize(x)
        return x, None

    def latents(self, x: torch.Tensor) -> torch.Tensor:
        """Series [N, T] -> the encoder's output vectors [N * n_tokens, D], before quantizing."""
        return self._latents(self._to_model_space(x)[0]).reshape(-1, self.cfg.embedding_dim)

    def _latents(self, xn: torch.Tensor) -> torch.Tensor:
        """Model-space series [N, T] -> latents [N*n_patches, tokens_per_patch, D]."""
        cfg = self.cfg
        z = run_flat(self.encoder, xn.reshape(-1, cfg.patch_size))  # [M, L*D], see patchconv
        return z.view(z.shape[0], cfg.tokens_per_patch, cfg.embedding_dim)

    def _decode_vectors(self, q: torch.Tensor, n: int) -> torch.Tensor:
        """Code vectors [N*n_patches, tokens_per_patch, D] -> series [n, T] in model space.

        Patches are independent, so T is any multiple of patch_size (context_points in training).
        """
        out = run_flat(self.decoder, q.reshape(q.shape[0], -1))  # [M, patch_size]
        return out.reshape(n, -1)

    def forward(self, x: torch.Tensor) -> Reconstruction:
        """Reconstruct series `x` [N, T]; everything returned is in model space."""
        xn, _ = self._to_model_space(x)
        z = self._latents(xn)
        vq = self.quantizer(z.transpose(1, 2))  # the quantizer takes [M, D, L]
        recon = self._decode_vectors(vq.quantized.transpose(1, 2), x.shape[0])
        codes = vq.codes.reshape(x.shape[0], -1)  # [N, n_tokens]
        return Reconstruction(recon, xn, codes, vq.loss, vq.perplexity, vq.counts)

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, RevinStats | None]:
        """Series [N, T] -> codes [N, n_tokens] and the RevIN statistics (None without RevIN)."""
        xn, stats = self._to_model_space(x)
        return self.codes_of(xn), stats

    def codes_of(self, xn: torch.Tensor) -> torch.Tensor:
        """Model-space series [N, T], T any multiple of patch_size -> codes [N, T / cf]."""
        flat = self._latents(xn).float().reshape(-1, self.cfg.embedding_dim)
        return self.quantizer.nearest(flat).reshape(xn.shape[0], -1)

    def decode(self, codes: torch.Tensor, stats: RevinStats | None) -> torch.Tensor:
        """Codes [N, n_tokens] -> series [N, T], RevIN undone when statistics are given."""
        n = codes.shape[0]
        q = self.quantizer.lookup(codes.reshape(-1, self.cfg.tokens_per_patch))  # [M, L, D]
        out = self._decode_vectors(q, n)
        return denormalize(out, stats) if stats is not None else out
