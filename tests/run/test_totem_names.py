"""TOTEM's key names for factors TOTEM itself does not build (24, 32, 36, 48, 72), pinned.

totem.py derives the names from the stage list by one documented rule; test_totem_compat.py
checks it against TOTEM's own names for 4/8/12/16. Here the rule's extension is written out by
hand per factor (so a change to the rule shows up as a test failure, not a silent rename of
users' files), and `TotemShaped`, TOTEM's module tree built from such a table, loads tsvq's
split state strictly and computes the same reconstruction from the TOTEM-keyed weights alone.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from tsvq.model.vqvae import VQVAE, ModelConfig
from tsvq.run.totem_names import join_state, split_state

# factor -> (encoder strided convs (name, stride), the kernel-3 conv, decoder transposed convs
# (name, stride) in the order they run), by the rule in totem.py's docstring
TABLE = {
    24: (
        [("_conv_1", 2), ("_conv_2", 2), ("_conv_A", 2), ("_conv_3", 3)],
        "_conv_4",
        [("_conv_trans_2", 3), ("_conv_trans_A", 2), ("_conv_trans_3", 2), ("_conv_trans_4", 2)],
    ),
    32: (
        [("_conv_1", 2), ("_conv_2", 2), ("_conv_A", 2), ("_conv_B", 2), ("_conv_C", 2)],
        "_conv_3",
        [
            ("_conv_trans_A", 2),
            ("_conv_trans_B", 2),
            ("_conv_trans_C", 2),
            ("_conv_trans_1", 2),
            ("_conv_trans_2", 2),
        ],
    ),
    36: (
        [("_conv_1", 2), ("_conv_2", 2), ("_conv_3", 3), ("_conv_4", 3)],
        "_conv_5",
        [("_conv_trans_3", 3), ("_conv_trans_4", 3), ("_conv_trans_5", 2), ("_conv_trans_6", 2)],
    ),
    48: (
        [("_conv_1", 2), ("_conv_2", 2), ("_conv_A", 2), ("_conv_B", 2), ("_conv_3", 3)],
        "_conv_4",
        [
            ("_conv_trans_2", 3),
            ("_conv_trans_A", 2),
            ("_conv_trans_B", 2),
            ("_conv_trans_3", 2),
            ("_conv_trans_4", 2),
        ],
    ),
}


class _Residual(nn.Module):
    def __init__(self, h: int, rh: int) -> None:
        super().__init__()
        self._block = nn.Sequential(
            nn.ReLU(),
            nn.Conv1d(h, rh, 3, padding=1, bias=False),
            nn.ReLU(),
            nn.Conv1d(rh, h, 1, bias=False),
        )


class _Stack(nn.Module):
    def __init__(self, h: int, rh: int, n: int) -> None:
        super().__init__()
        self._layers = nn.ModuleList(_Residual(h, rh) for _ in range(n))


class TotemShaped(nn.Module):
    """TOTEM's `vqvae` module tree (names and shapes only) for one factor of TABLE."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        h, rh, n = cfg.block_hidden_size, cfg.res_hidden_size, cfg.num_residual_layers
        enc, k3, dec = TABLE[cfg.compression_factor]
        self.encoder, self.decoder, self.vq = nn.Module(), nn.Module(), nn.Module()
        widths = [1, h // 2] + [h] * (len(enc) - 1)
        for i, (name, s) in enumerate(enc):
            setattr(self.encoder, name, nn.Conv1d(widths[i], widths[i + 1], 4, s, 1))
        setattr(self.encoder, k3, nn.Conv1d(h, h, 3, 1, 1))
        self.encoder._residual_stack = _Stack(h, rh, n)
        self.encoder._pre_vq_conv = nn.Conv1d(h, cfg.embedding_dim, 1)
        self.decoder._conv_1 = nn.Conv1d(cfg.embedding_dim, h, 3, 1, 1)
        self.decoder._residual_stack = _Stack(h, rh, n)
        widths = [h] * (len(dec) - 1) + [h // 2, 1]
        for i, (name, s) in enumerate(dec):
            setattr(self.decoder, name, nn.ConvTranspose1d(widths[i], widths[i + 1], s + 2, s, 1))
        self.vq._embedding = nn.Embedding(cfg.num_embeddings, cfg.embedding_dim)


def _stack(sd: dict, prefix: str, x: torch.Tensor, n: int) -> torch.Tensor:
    for i in range(n):
        w3 = sd[f"{prefix}._residual_stack._layers.{i}._block.1.weight"]
        w1 = sd[f"{prefix}._residual_stack._layers.{i}._block.3.weight"]
        x = F.relu(x) + F.conv1d(F.relu(F.conv1d(F.relu(x), w3, padding=1)), w1)
    return F.relu(x)


def totem_forward(sd: dict, cfg: ModelConfig, x: torch.Tensor) -> torch.Tensor:
    """Patches [N, P] -> reconstruction [N, P] through TOTEM's layers, codebook lookup included."""
    enc, k3, dec = TABLE[cfg.compression_factor]

    def conv(name: str, h: torch.Tensor, stride: int = 1, pad: int = 1) -> torch.Tensor:
        return F.conv1d(h, sd[f"{name}.weight"], sd[f"{name}.bias"], stride=stride, padding=pad)

    h = x[:, None, :]
    for name, s in enc:
        h = F.relu(conv(f"encoder.{name}", h, s))
    h = _stack(sd, "encoder", conv(f"encoder.{k3}", h), cfg.num_residual_layers)
    z = conv("encoder._pre_vq_conv", h, pad=0).permute(0, 2, 1)  # [N, L, D]
    book = sd["vq._embedding.weight"]
    q = book[torch.cdist(z.reshape(-1, z.shape[-1]), book).argmin(1)].view_as(z)
    h = _stack(sd, "decoder", conv("decoder._conv_1", q.permute(0, 2, 1)), cfg.num_residual_layers)
    for i, (name, s) in enumerate(dec):
        h = F.conv_transpose1d(
            h, sd[f"decoder.{name}.weight"], sd[f"decoder.{name}.bias"], stride=s, padding=1
        )
        h = F.relu(h) if i < len(dec) - 1 else h
    return h[:, 0, :]


@pytest.mark.parametrize(("factor", "patch"), [(24, 48), (32, 32), (36, 72), (48, 48)])
def test_extension_names_load_strictly_and_compute_the_same(factor: int, patch: int):
    torch.manual_seed(factor)
    cfg = ModelConfig(
        context_points=patch * 2,
        patch_size=patch,
        compression_factor=factor,
        num_residual_layers=1,
        revin=False,
        codebook_init="uniform",
    )
    model = VQVAE(cfg).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0.0, 0.2)
    totem, rest = split_state(model)
    TotemShaped(cfg).load_state_dict(totem, strict=True)  # every key and shape as tabled
    x = torch.randn(19, cfg.context_points)
    with torch.no_grad():
        want = totem_forward(totem, cfg, x.reshape(-1, patch)).reshape(x.shape)
        got = model(x).recon
    torch.testing.assert_close(got, want, atol=1e-4, rtol=1e-4)
    back = VQVAE(cfg)
    back.load_state_dict(join_state(back, totem, rest), strict=True)
    for k, v in model.state_dict().items():
        assert torch.equal(back.state_dict()[k], v), k
