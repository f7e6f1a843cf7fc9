"""TOTEM's names for tsvq's weights, so checkpoints load in TOTEM's `vqvae` class and back.

TOTEM (SaberaTalukder/TOTEM, `forecasting/lib/models/vqvae.py`) names its layers per
compression factor. One rule gives its names for factors 4, 8, 12 and 16 and extends to every
factor tsvq builds (4 x 2^a x 3^b):

- encoder: the first two strided convolutions are `_conv_1`, `_conv_2`; further stride-2
  stages are lettered `_conv_A`, `_conv_B`, ... in order; stride-3 stages are numbered on from
  `_conv_3`; the kernel-3 convolution takes the next number (`_conv_3` without a stride-3
  stage, `_conv_4` with one); then `_residual_stack` and `_pre_vq_conv`.
- decoder: `_conv_1` (kernel 3) and `_residual_stack`; transposed stages, in the order they
  run: stride-2 stages other than the last two are lettered `_conv_trans_A`, `_conv_trans_B`,
  ...; stride-3 stages and the last two are numbered consecutively from
  `_conv_trans_{1 + number of stride-3 stages}` (factor 12: `_conv_trans_2`, `_3`, `_4`).
- residual block j: `_residual_stack._layers.{j}._block.{1,3}.weight` (no biases).
- codebook: `vq._embedding.weight`.

Everything else tsvq keeps in its state dict (the quantizer's counters and EMA statistics) is
not TOTEM's and travels beside it (`split_state` / `join_state`).
"""

from __future__ import annotations

import string
from dataclasses import asdict, dataclass, fields

import torch
from torch import nn

from tsvq.model.vqvae import VQVAE, ModelConfig, ResidualStack, stage_strides

CODEBOOK = "quantizer.codebook"
TOTEM_CODEBOOK = "vq._embedding.weight"


@dataclass(frozen=True)
class OriginalConfig:
    """The original's `config` and `_config.json`: TOTEM's constructor arguments plus the
    channel count, as `json.dump(config, f, indent=4)` writes them."""

    patch_size: int
    embedding_dim: int
    num_embeddings: int
    compression_factor: int
    block_hidden_size: int
    num_residual_layers: int
    res_hidden_size: int
    commitment_cost: float
    n_channels: int


ORIGINAL_CONFIG_KEYS = tuple(f.name for f in fields(OriginalConfig))


def encoder_stage_names(strides: list[int]) -> tuple[list[str], str]:
    """TOTEM's names of the strided encoder convolutions and of the kernel-3 convolution."""
    names, letters, number = ["_conv_1", "_conv_2"], iter(string.ascii_uppercase), 3
    for s in strides[2:]:
        if s == 2:
            names.append(f"_conv_{next(letters)}")
        else:
            names.append(f"_conv_{number}")
            number += 1
    return names, f"_conv_{number}"


def decoder_stage_names(strides: list[int]) -> list[str]:
    """TOTEM's names of the transposed decoder convolutions, in the order they run."""
    order = strides[::-1]  # the decoder undoes the encoder's stages last to first
    n3 = sum(1 for s in order if s == 3)
    letters, number = iter(string.ascii_uppercase), 1 + n3
    names = []
    for i, s in enumerate(order):
        last_two = i >= len(order) - 2
        if s == 2 and not last_two:
            names.append(f"_conv_trans_{next(letters)}")
        else:
            names.append(f"_conv_trans_{number}")
            number += 1
    return names


def _conv_names(
    children: list[tuple[str, nn.Module]], stage_names: list[str], prefix: str
) -> dict[str, str]:
    """Map `prefix.{index}` of tsvq's Sequential to TOTEM's names, in the order given."""
    out: dict[str, str] = {}
    convs = [(i, m) for i, m in children if isinstance(m, nn.Conv1d | nn.ConvTranspose1d)]
    for (index, module), name in zip(convs, stage_names, strict=True):
        for pname, _ in module.named_parameters(recurse=False):
            out[f"{prefix}.{index}.{pname}"] = f"{prefix}.{name}.{pname}"
    for index, child in children:
        if isinstance(child, ResidualStack):
            for pname, _ in child.named_parameters():
                # blocks.{j}.{1|3}.weight -> _residual_stack._layers.{j}._block.{1|3}.weight
                _, j, layer, leaf = pname.split(".")
                out[f"{prefix}.{index}.{pname}"] = (
                    f"{prefix}._residual_stack._layers.{j}._block.{layer}.{leaf}"
                )
    return out


def key_map(model: VQVAE) -> dict[str, str]:
    """tsvq state-dict key -> TOTEM's, for every weight TOTEM's class has."""
    cfg = model.cfg
    strides = stage_strides(cfg.compression_factor, cfg.patch_size)
    strided, k3 = encoder_stage_names(strides)
    out = _conv_names(
        list(model.encoder.named_children()), [*strided, k3, "_pre_vq_conv"], "encoder"
    )
    out.update(
        _conv_names(
            list(model.decoder.named_children()),
            ["_conv_1", *decoder_stage_names(strides)],
            "decoder",
        )
    )
    out[CODEBOOK] = TOTEM_CODEBOOK
    return out


def split_state(model: VQVAE) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """The model's state as (TOTEM's state dict, tsvq's own rest keyed as tsvq names it)."""
    names = key_map(model)
    state = model.state_dict()
    totem = {names[k]: v for k, v in state.items() if k in names}
    rest = {k: v for k, v in state.items() if k not in names}
    return totem, rest


def join_state(
    model: VQVAE, totem: dict[str, torch.Tensor], rest: dict[str, torch.Tensor]
) -> dict[str, torch.Tensor]:
    """The file's tensors under tsvq's names, from TOTEM's keys plus tsvq's rest, each checked
    against `model`'s (a `VQVAE.skeleton` will do: only names, shapes and dtypes are read);
    raises ValueError on a mismatch. Buffers of tsvq's own the file lacks are not returned."""
    names = key_map(model)
    back = {v: k for k, v in names.items()}
    missing = sorted(set(back) - set(totem))
    unknown = sorted(map(str, set(totem) - set(back)))  # a file's keys may be anything
    if missing or unknown:
        parts = []
        if missing:
            parts.append(f"missing {', '.join(missing[:4])}{' ...' if len(missing) > 4 else ''}")
        if unknown:
            parts.append(f"unexpected {', '.join(unknown[:4])}{' ...' if len(unknown) > 4 else ''}")
        raise ValueError(f"model_state_dict does not fit this configuration: {'; '.join(parts)}")
    own = model.state_dict()
    out: dict[str, torch.Tensor] = {}
    problems = []
    pairs = [(f"model_state_dict[{k!r}]", back[k], v) for k, v in totem.items()]
    pairs += [
        (f"tsvq.state[{k!r}]", k, v)
        for k, v in rest.items()  # tsvq's own buffers;
        if k in own and k not in names
    ]  # unknown names are ignored
    for where, key, value in pairs:
        try:
            out[key] = _checked(where, value, own[key])
        except ValueError as exc:
            problems.append(str(exc))
    if problems:  # every misfit counted, the first few named
        more = f"; ... ({len(problems)} tensors in all)" if len(problems) > 3 else ""
        raise ValueError("; ".join(problems[:3]) + more)
    return out


def _checked(where: str, value: object, like: torch.Tensor) -> torch.Tensor:
    """`value` if it can stand in for `like`: a tensor of its shape and kind, finite if float."""
    if not isinstance(value, torch.Tensor):
        raise ValueError(f"{where} is {type(value).__name__}, expected a tensor")
    if tuple(value.shape) != tuple(like.shape):
        raise ValueError(
            f"{where} has shape {tuple(value.shape)}, this configuration needs {tuple(like.shape)}"
        )
    if value.is_floating_point() != like.is_floating_point() or value.is_complex():
        raise ValueError(f"{where} has dtype {value.dtype}, expected {like.dtype}")
    if value.is_floating_point() and not torch.isfinite(value).all():
        raise ValueError(f"{where} holds NaN or infinite values")
    return value.to(like.dtype)


def original_config(cfg: ModelConfig, n_channels: int | None) -> dict[str, int | float]:
    """The original script's nine-key `config` (what TOTEM's `vqvae` is built from); a run's
    record always knows its channel count (only an exported folder's may not)."""
    assert n_channels is not None, "a run record states its n_channels"
    values = {**cfg.to_dict(), "n_channels": n_channels}
    return asdict(OriginalConfig(**{k: values[k] for k in ORIGINAL_CONFIG_KEYS}))
