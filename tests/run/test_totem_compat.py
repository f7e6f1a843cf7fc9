"""Files both ways with TOTEM's `vqvae` class: tsvq's load into it, the original's load into tsvq.

`Totem` below is a reference written for these tests from reading TOTEM's
`forecasting/lib/models/vqvae.py` (SaberaTalukder/TOTEM): its module names per compression
factor, in-place ReLUs in the residual blocks, and `vqvae(config)` built from the config dict.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from tsvq import Tokenizer
from tsvq.cli import main
from tsvq.errors import TsvqError
from tsvq.model.vqvae import VQVAE, ModelConfig
from tsvq.report.evaluate import evaluate, load_split_data
from tsvq.run import checkpoint
from tsvq.run.totem_names import split_state

# TOTEM's layer names per factor, as its Encoder/Decoder __init__ spell them: (name, stride)
ENCODER = {
    4: ([("_conv_1", 2), ("_conv_2", 2)], "_conv_3"),
    8: ([("_conv_1", 2), ("_conv_2", 2), ("_conv_A", 2)], "_conv_3"),
    12: ([("_conv_1", 2), ("_conv_2", 2), ("_conv_3", 3)], "_conv_4"),
    16: ([("_conv_1", 2), ("_conv_2", 2), ("_conv_A", 2), ("_conv_B", 2)], "_conv_3"),
}
DECODER = {
    4: [("_conv_trans_1", 2), ("_conv_trans_2", 2)],
    8: [("_conv_trans_A", 2), ("_conv_trans_1", 2), ("_conv_trans_2", 2)],
    12: [("_conv_trans_2", 3), ("_conv_trans_3", 2), ("_conv_trans_4", 2)],
    16: [("_conv_trans_A", 2), ("_conv_trans_B", 2), ("_conv_trans_1", 2), ("_conv_trans_2", 2)],
}


class _Residual(nn.Module):
    def __init__(self, h: int, rh: int) -> None:
        super().__init__()
        self._block = nn.Sequential(
            nn.ReLU(True),
            nn.Conv1d(h, rh, 3, 1, 1, bias=False),
            nn.ReLU(True),
            nn.Conv1d(rh, h, 1, 1, bias=False),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self._block(x)  # the in-place ReLU rectifies x itself first


class _Stack(nn.Module):
    def __init__(self, h: int, rh: int, n: int) -> None:
        super().__init__()
        self._layers = nn.ModuleList(_Residual(h, rh) for _ in range(n))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self._layers:
            x = layer(x)
        return F.relu(x)


class _Encoder(nn.Module):
    def __init__(self, cf: int, h: int, n: int, rh: int, d: int) -> None:
        super().__init__()
        stages, self.k3 = ENCODER[cf]
        self.stages = [name for name, _ in stages]
        widths = [1, h // 2] + [h] * (len(stages) - 1)
        for i, (name, stride) in enumerate(stages):
            setattr(self, name, nn.Conv1d(widths[i], widths[i + 1], 4, stride, 1))
        setattr(self, self.k3, nn.Conv1d(h, h, 3, 1, 1))
        self._residual_stack = _Stack(h, rh, n)
        self._pre_vq_conv = nn.Conv1d(h, d, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.view(x.shape[0], 1, x.shape[-1])
        for name in self.stages:
            x = F.relu(getattr(self, name)(x))
        x = getattr(self, self.k3)(x)
        return self._pre_vq_conv(self._residual_stack(x))


class _Decoder(nn.Module):
    def __init__(self, cf: int, h: int, n: int, rh: int, d: int) -> None:
        super().__init__()
        self._conv_1 = nn.Conv1d(d, h, 3, 1, 1)
        self._residual_stack = _Stack(h, rh, n)
        stages = DECODER[cf]
        self.stages = [name for name, _ in stages]
        widths = [h] * (len(stages) - 1) + [h // 2, 1]
        for i, (name, stride) in enumerate(stages):
            setattr(self, name, nn.ConvTranspose1d(widths[i], widths[i + 1], stride + 2, stride, 1))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        x = self._residual_stack(self._conv_1(z))
        for i, name in enumerate(self.stages):
            x = getattr(self, name)(x)
            if i < len(self.stages) - 1:
                x = F.relu(x)
        return x[:, 0, :]


class _VQ(nn.Module):
    def __init__(self, k: int, d: int) -> None:
        super().__init__()
        self._embedding = nn.Embedding(k, d)
        self._embedding.weight.data.uniform_(-1 / k, 1 / k)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        flat = z.permute(0, 2, 1).reshape(-1, z.shape[1])
        w = self._embedding.weight
        dist = (flat**2).sum(1, keepdim=True) + (w**2).sum(1) - 2 * flat @ w.t()
        q = w[dist.argmin(1)]
        return q.view(z.shape[0], z.shape[2], z.shape[1]).permute(0, 2, 1)


class Totem(nn.Module):
    """`vqvae(config)` as TOTEM builds it: `vq`, `encoder`, `decoder`."""

    def __init__(self, config: dict) -> None:
        super().__init__()
        h, n, rh = (
            config["block_hidden_size"],
            config["num_residual_layers"],
            config["res_hidden_size"],
        )
        d, k, cf = config["embedding_dim"], config["num_embeddings"], config["compression_factor"]
        self.compression_factor = cf
        self.vq = _VQ(k, d)
        self.encoder = _Encoder(cf, h, n, rh, d)
        self.decoder = _Decoder(cf, h, n, rh, d)

    def forward(self, patches: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.vq(self.encoder(patches)))


def _revin(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    mean = x.mean(-1, keepdim=True)
    std = torch.sqrt(x.var(-1, keepdim=True, unbiased=False) + 1e-5)
    return (x - mean) / std, mean, std


def _reconstruct(model: Totem, series: torch.Tensor, patch: int) -> torch.Tensor:
    """Series [N, T] -> RevIN, patches through the model, back to [N, T] (RevIN space)."""
    xn, _, _ = _revin(series)
    out = model(xn.reshape(-1, patch))
    return out.reshape(series.shape)


@pytest.mark.parametrize(("factor", "patch"), [(4, 16), (8, 16), (12, 24), (16, 16)])
def test_tsvq_weights_load_strictly_and_compute_the_same(factor: int, patch: int) -> None:
    torch.manual_seed(factor)
    cfg = ModelConfig(
        context_points=patch * 4,
        patch_size=patch,
        compression_factor=factor,
        codebook_init="uniform",
    )
    model = VQVAE(cfg).eval()  # fp32: tsvq's quantizer always runs in fp32
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.1)
    totem, rest = split_state(model)
    assert "vq._embedding.weight" in totem and all(k.startswith("quantizer.") for k in rest)
    ref = Totem({**cfg.to_dict(), "n_channels": 1}).eval()
    ref.load_state_dict(totem, strict=True)
    x = torch.randn(5, cfg.context_points) * 3 + 1
    with torch.no_grad():
        want = _reconstruct(ref, x, patch)
        got = model(x).recon
    torch.testing.assert_close(got, want, atol=1e-4, rtol=1e-4)


def _test_windows(data_dir, context: int, columns: slice | list) -> np.ndarray:
    """ETTh1's test windows, standard-scaled on the training rows: [n, C, T]."""
    df = pd.read_csv(data_dir / "ETT-small" / "ETTh1.csv")
    values = df.iloc[:, 1:].to_numpy(np.float64)[:, columns]
    train = values[: 12 * 30 * 24]
    scaled = (values - train.mean(0)) / train.std(0)
    test = scaled[16 * 30 * 24 - context : 20 * 30 * 24]
    windows = np.lib.stride_tricks.sliding_window_view(test, context, axis=0)
    return windows.astype(np.float32)


def test_totems_class_loads_tsvq_files_and_reconstructs_as_tsvq_eval(
    tiny_run, data_dir, capsys
) -> None:
    ckpt = torch.load(tiny_run, weights_only=True)
    config_json = json.loads(tiny_run.with_name(tiny_run.stem + "_config.json").read_text())
    assert config_json == ckpt["config"] and len(config_json) == 9
    assert ckpt["epoch"] in (0, 1)  # 0-based: the best of two epochs
    for config in (ckpt["config"], config_json):
        model = Totem(config)
        model.load_state_dict(ckpt["model_state_dict"], strict=True)
    model.eval()
    windows = torch.from_numpy(_test_windows(data_dir, 96, slice(None)))
    with torch.no_grad():
        series = windows.reshape(-1, 96)
        recon = _reconstruct(model, series, config_json["patch_size"])
        mse = float((recon - _revin(series)[0]).double().pow(2).mean())
    assert main(["eval", "--checkpoint", str(tiny_run), "--json"]) == 0
    reported = json.loads(capsys.readouterr().out)
    assert reported["mse"] == pytest.approx(mse, rel=1e-4)


def _original_args(**over: object) -> dict:
    """vars(args) as the original script's parser gives them, plus its `dset_finetune`."""
    args = {
        "dset": "etth1",
        "context_points": 96,
        "batch_size": 64,
        "num_workers": 0,
        "scaler": "standard",
        "features": "M",
        "patch_size": 16,
        "embedding_dim": 32,
        "num_embeddings": 256,
        "compression_factor": 4,
        "block_hidden_size": 64,
        "num_residual_layers": 2,
        "res_hidden_size": 32,
        "commitment_cost": 0.25,
        "n_epochs": 100,
        "lr": 1e-4,
        "weight_decay": 1e-4,
        "revin": 1,
        "amp": 1,
        "save_path": "saved_models/vqvae_only/",
        "model_id": 1,
        **over,
    }
    return {**args, "dset_finetune": args["dset"]}


def _original_checkpoint(path, args: dict, n_channels: int = 7) -> Totem:
    """A checkpoint written the way the original script writes it, from TOTEM's class."""
    keys = (
        "patch_size",
        "embedding_dim",
        "num_embeddings",
        "compression_factor",
        "block_hidden_size",
        "num_residual_layers",
        "res_hidden_size",
        "commitment_cost",
    )
    config = {**{k: args[k] for k in keys}, "n_channels": n_channels}
    torch.manual_seed(3)
    model = Totem(config)
    with torch.no_grad():  # a codebook spread like encoder outputs, so many codes are used
        model.vq._embedding.weight.normal_(0, 0.05)
    torch.save(
        {
            "model_state_dict": model.state_dict(),
            "config": config,
            "args": args,
            "epoch": 4,
            "train_loss": 1.5,
            "val_loss": 1.25,
        },
        path,
    )
    return model.eval()


def test_tsvq_reads_a_checkpoint_the_original_wrote(tmp_path, data_dir, capsys) -> None:
    path = tmp_path / "vqvae_cw96_ps16_ed32_cf4_cb256_model1.pth"
    model = _original_checkpoint(path, _original_args())
    windows = torch.from_numpy(_test_windows(data_dir, 96, [0]))  # it trained channel 0
    with torch.no_grad():
        series = windows.reshape(-1, 96)
        recon = _reconstruct(model, series, 16)
        mse = float((recon - _revin(series)[0]).double().pow(2).mean())
    assert main(["eval", "--checkpoint", str(path), "--json"]) == 0
    got = json.loads(capsys.readouterr().out)
    assert got["origin"] == "original" and got["channels"] == 1 and got["epoch"] == 5
    assert [c["channel"] for c in got["per_channel"]] == ["HUFL"]
    assert got["mse"] == pytest.approx(mse, rel=1e-4)
    record = checkpoint.load_run(path)
    assert record.model.quantizer == "vq" and record.data.spec.channel == 0
    # the other commands read it too
    assert (
        main(
            [
                "encode",
                "--checkpoint",
                str(path),
                "--split",
                "test",
                "--out",
                str(tmp_path / "t.npz"),
            ]
        )
        == 0
    )


@pytest.mark.parametrize(
    ("change", "needle"),
    [
        (lambda c: c["config"].update(num_embeddings=128), r"has shape \(256, 32\)"),
        (lambda c: c["config"].pop("embedding_dim"), "config lacks embedding_dim"),
        (lambda c: c["args"].pop("context_points"), "args lacks 'context_points'"),
        (lambda c: c["model_state_dict"].pop("encoder._conv_2.bias"), "missing encoder._conv_2"),
        (lambda c: c.update(epoch="4"), "epoch'] is str"),
    ],
)
def test_a_broken_original_checkpoint_is_one_line(tmp_path, change, needle) -> None:
    path = tmp_path / "x.pth"
    _original_checkpoint(path, _original_args())
    ckpt = torch.load(path, weights_only=True)
    change(ckpt)
    torch.save(ckpt, path)
    with pytest.raises(TsvqError, match=needle) as info:
        checkpoint.load_run(path)
    assert "\n" not in str(info.value) and str(path) in str(info.value)


def test_config_and_record_that_disagree_are_refused(tiny_run, tmp_path) -> None:
    ckpt = torch.load(tiny_run, weights_only=True)
    ckpt["config"]["res_hidden_size"] = 16
    torch.save(ckpt, tmp_path / "mixed.pth")
    with pytest.raises(TsvqError, match=r"config\['res_hidden_size'\] is 16"):
        checkpoint.load_run(tmp_path / "mixed.pth")


def test_a_checkpoint_of_tsvq_0_1_says_what_to_do(tmp_path) -> None:
    torch.save(
        {
            "format": "tsvq-checkpoint",
            "format_version": 1,
            "model_state_dict": {},
            "config": {},
            "args": {},
            "epoch": 1,
            "train_loss": 1.0,
            "val_loss": 1.0,
        },
        tmp_path / "old.pth",
    )
    with pytest.raises(TsvqError, match="train it again with this tsvq"):
        checkpoint.load_run(tmp_path / "old.pth")


def test_model_id_is_an_int_and_features_s_stores_one_channel(
    tmp_path, repo: Path, tiny_args: tuple[str, ...]
) -> None:
    proc = subprocess.run(
        [
            sys.executable,
            "vqvae_train.py",
            "--dset",
            "etth1",
            "--features",
            "S",
            "--model_id",
            "01",
            "--n_epochs",
            "1",
            "--save_path",
            str(tmp_path),
            *tiny_args,
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=str(repo),
    )
    assert proc.returncode == 0, proc.stderr
    path = tmp_path / "etth1" / "vqvae_cw96_ps16_ed32_cf4_cb256_model1.pth"
    ckpt = torch.load(path, weights_only=True)
    assert ckpt["args"]["model_id"] == 1 and ckpt["config"]["n_channels"] == 1
    assert ckpt["epoch"] == 0
    for line in (
        "Using device: cpu",
        "Number of channels: 1",
        "Train batches: 8,",
        "Model parameters: 78,369",
        "AMP enabled: ",
        "Best model: epoch 1, validation loss ",
        f"Model saved to: {path}",
    ):
        assert line in proc.stdout, (line, proc.stdout)


@pytest.mark.parametrize("factor", [4, 8, 16])
def test_the_speed_baseline_computes_totems_function(factor: int, repo: Path) -> None:
    """benchmarks/original_trainer.py, the "before" of every speed ratio, is TOTEM's model."""
    sys.path.insert(0, str(repo / "benchmarks"))
    try:
        from original_trainer import BaselineVQVAE
    finally:
        sys.path.pop(0)
    torch.manual_seed(factor)
    cfg = ModelConfig(context_points=64, compression_factor=factor, codebook_init="uniform")
    model = VQVAE(cfg).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.1)
    base = BaselineVQVAE(compression_factor=factor).eval()
    base.load_state_dict(split_state(model)[0], strict=True)
    ref = Totem({**cfg.to_dict(), "n_channels": 1}).eval()
    ref.load_state_dict(split_state(model)[0], strict=True)
    patches = torch.randn(40, 16)
    with torch.no_grad():
        _loss, quantized, *_ = base.vq(base.encoder(patches))
        torch.testing.assert_close(base.decoder(quantized), ref(patches), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize(
    ("edit", "needle"),
    [
        (
            lambda c: (
                c["model_state_dict"]["encoder._conv_1.weight"]
                .view(-1)
                .__setitem__(0, float("nan"))
            ),
            r"model_state_dict\['encoder._conv_1.weight'\] holds NaN",
        ),
        (
            lambda c: c["model_state_dict"].__setitem__("decoder._conv_1.bias", [0.0] * 64),
            "is list, expected a tensor",
        ),
        (
            lambda c: c["tsvq"]["state"].__setitem__("quantizer.ema_count", torch.ones(3)),
            r"tsvq.state\['quantizer.ema_count'\] has shape \(3,\)",
        ),
        (
            lambda c: c["tsvq"]["state"]["quantizer.ema_sum"].fill_(float("inf")),
            "holds NaN or infinite",
        ),
        (
            lambda c: c["tsvq"]["data"]["scaler"]["scale"].__setitem__(0, 0.0),
            "scale that is not positive",
        ),
        (
            lambda c: c["tsvq"]["model"].__setitem__("embedding_dim", "32"),
            r"tsvq.model\[.embedding_dim.\] is str, expected int",
        ),
    ],
)
def test_a_damaged_tsvq_checkpoint_is_one_line(tiny_run, tmp_path, edit, needle) -> None:
    ckpt = torch.load(tiny_run, weights_only=True)
    edit(ckpt)
    torch.save(ckpt, tmp_path / "bad.pth")
    with pytest.raises(TsvqError, match=needle) as info:
        checkpoint.load_run(tmp_path / "bad.pth")
    assert "\n" not in str(info.value)


def test_gradient_choice_is_recorded_and_totems_class_still_loads_the_checkpoint(
    tmp_path: Path, tiny_run: Path, tiny_args: tuple[str, ...]
):
    flags = [
        "train",
        "--dset",
        "etth1",
        "--n_epochs",
        "1",
        *tiny_args,
        "--gradient",
        "rotation",
        "--dead_code_threshold",
        "0.1",
        "--save_path",
        str(tmp_path),
    ]
    assert main(flags) == 0
    path = tmp_path / "etth1" / tiny_run.name
    ckpt, ref = torch.load(path, weights_only=True), torch.load(tiny_run, weights_only=True)
    assert ckpt["tsvq"]["model"]["gradient"] == "rotation"
    assert ref["tsvq"]["model"]["gradient"] == "balanced"  # the default
    assert ckpt["tsvq"]["model"]["dead_code_threshold"] == 0.1
    run = json.loads(path.with_name(path.stem + "_run.json").read_text())
    assert run["model"]["gradient"] == "rotation" and run["args"]["gradient"] == "rotation"
    # a training choice only: the original's config and TOTEM's state dict are as before
    config = json.loads(path.with_name(path.stem + "_config.json").read_text())
    assert config == ckpt["config"] == ref["config"]
    got, want = ckpt["model_state_dict"], ref["model_state_dict"]
    assert list(got) == list(want)
    assert all(got[k].shape == want[k].shape and got[k].dtype == want[k].dtype for k in got)
    Totem(config).load_state_dict(got, strict=True)
    tok = Tokenizer.from_pretrained(path)
    r = evaluate(tok, load_split_data(tok), "test")
    assert math.isfinite(r.mse) and r.codes_used > 1


# ---- the non-finite guard: a loss that turns NaN or inf stops the run with one line naming
# the epoch and the flag to change, and keeps the last finite checkpoint (or writes none) ----
