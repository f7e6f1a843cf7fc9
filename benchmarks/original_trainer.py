"""Baseline: a standalone trainer that behaves like the one the specification describes.

Written for tsvq's benchmarks from the specification (spec/seed-README): PatchTST-style
per-item Dataset and torch DataLoader, the first channel of each window, RevIN held as module
state, the TOTEM 1-D conv VQ-VAE with its one-hot `scatter_` + matmul codebook lookup and full
`||z||^2 + ||e||^2 - 2 z.e` distances, codebook initialised uniform in +-1/K, AdamW, cosine
decay, clipping at 1.0, mixed precision on CUDA only (fp32 on a CPU), train + validate each epoch,
the specification's epoch line, best checkpoint, history CSV and config JSON.

It is the "before" that tsvq is timed against, as a whole process:

    python benchmarks/original_trainer.py --dset etth1 --n_epochs 3
    python vqvae_train.py --dset etth1 --channel 0 --n_epochs 3

`train_speed.py` imports its pieces (`BaselineVQVAE`, `window_loader`, `baseline_step`) so the
per-step comparison runs the same code. Nothing in tsvq imports this file.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, Dataset

# --- data: PatchTST's per-item window dataset ------------------------------------------------

FILES = {
    "etth1": "ETT-small/ETTh1.csv",
    "etth2": "ETT-small/ETTh2.csv",
    "ettm1": "ETT-small/ETTm1.csv",
    "ettm2": "ETT-small/ETTm2.csv",
    "weather": "weather/weather.csv",
    "illness": "illness/national_illness.csv",
    "exchange": "exchange_rate/exchange_rate.csv",
    "electricity": "electricity/electricity.csv",
    "traffic": "traffic/traffic.csv",
}


def borders(dset: str, n_rows: int, seq_len: int) -> tuple[list[int], list[int]]:
    """Start and end rows of train / val / test, as PatchTST's ETT and custom loaders cut them."""
    if dset.startswith("ett"):
        day = 24 if dset.startswith("etth") else 96
        ends = [12 * 30 * day, 16 * 30 * day, 20 * 30 * day]
    else:
        n_train, n_test = int(n_rows * 0.7), int(n_rows * 0.2)
        ends = [n_train, n_rows - n_test, n_rows]
    starts = [0, ends[0] - seq_len, ends[1] - seq_len]
    return starts, ends


class WindowDataset(Dataset):
    """One (seq_x, seq_y) pair per index, sliced and converted to tensors item by item."""

    def __init__(
        self,
        path: str,
        dset: str,
        split: str,
        seq_len: int,
        pred_len: int,
        features: str = "M",
        target: str = "OT",
        scale: bool = True,
    ) -> None:
        frame = pd.read_csv(path)
        stamps = pd.to_datetime(frame["date"])  # PatchTST parses the dates for time features
        self.hours = stamps.dt.hour.to_numpy()
        cols = [c for c in frame.columns[1:]]
        if features == "S":
            cols = [target]
        elif dset not in FILES or not dset.startswith("ett"):
            cols = [c for c in cols if c != target] + [target]  # custom loader: target last
        data = frame[cols].to_numpy(dtype=np.float64)
        starts, ends = borders(dset, len(frame), seq_len)
        if scale:  # StandardScaler fitted on the training rows
            train = data[starts[0] : ends[0]]
            data = (data - train.mean(axis=0)) / train.std(axis=0)
        i = ("train", "val", "test").index(split)
        self.data = data[starts[i] : ends[i]]
        self.seq_len, self.pred_len = seq_len, pred_len

    def __len__(self) -> int:
        return len(self.data) - self.seq_len - self.pred_len + 1

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        s_end = index + self.seq_len
        seq_x = self.data[index:s_end]
        seq_y = self.data[s_end : s_end + self.pred_len]
        return torch.tensor(seq_x).float(), torch.tensor(seq_y).float()


def window_loader(
    path: str,
    dset: str,
    split: str,
    seq_len: int,
    batch_size: int,
    pred_len: int = 0,
    shuffle: bool | None = None,
    num_workers: int = 0,
) -> DataLoader:
    ds = WindowDataset(path, dset, split, seq_len, pred_len)
    return DataLoader(
        ds,
        batch_size=batch_size,
        num_workers=num_workers,
        shuffle=split == "train" if shuffle is None else shuffle,
    )


# --- model: TOTEM's VQ-VAE (compression factor 4 as the defaults; 8 and 16 as TOTEM) ----------


class RevIN(nn.Module):
    """RevIN as PatchTST ships it, statistics kept on the module between norm and denorm."""

    def __init__(self, eps: float = 1e-5) -> None:
        super().__init__()
        self.eps = eps

    def forward(self, x: torch.Tensor, mode: str) -> torch.Tensor:
        if mode == "norm":
            self.mean = x.mean(dim=1, keepdim=True).detach()
            self.stdev = torch.sqrt(x.var(dim=1, keepdim=True, unbiased=False) + self.eps).detach()
            return (x - self.mean) / self.stdev
        return x * self.stdev + self.mean


class Residual(nn.Module):
    def __init__(self, hidden: int, res_hidden: int) -> None:
        super().__init__()
        self._block = nn.Sequential(
            nn.ReLU(True),
            nn.Conv1d(hidden, res_hidden, 3, 1, 1, bias=False),
            nn.ReLU(True),
            nn.Conv1d(res_hidden, hidden, 1, 1, bias=False),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self._block(x)


class ResidualStack(nn.Module):
    def __init__(self, hidden: int, n: int, res_hidden: int) -> None:
        super().__init__()
        self._layers = nn.ModuleList([Residual(hidden, res_hidden) for _ in range(n)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self._layers:
            x = layer(x)
        return F.relu(x)


class Encoder(nn.Module):
    def __init__(self, hidden: int, n_res: int, res_hidden: int, dim: int, cf: int) -> None:
        super().__init__()
        if cf not in (4, 8, 16):
            raise ValueError(f"the baseline builds compression factors 4, 8, 16; got {cf}")
        self.cf = cf
        self._conv_1 = nn.Conv1d(1, hidden // 2, 4, 2, 1)
        self._conv_2 = nn.Conv1d(hidden // 2, hidden, 4, 2, 1)
        if cf >= 8:
            self._conv_A = nn.Conv1d(hidden, hidden, 4, 2, 1)
        if cf == 16:
            self._conv_B = nn.Conv1d(hidden, hidden, 4, 2, 1)
        self._conv_3 = nn.Conv1d(hidden, hidden, 3, 1, 1)
        self._residual_stack = ResidualStack(hidden, n_res, res_hidden)
        self._pre_vq_conv = nn.Conv1d(hidden, dim, 1, 1)

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        x = inputs.view([inputs.shape[0], 1, inputs.shape[-1]])
        x = F.relu(self._conv_1(x))
        x = F.relu(self._conv_2(x))  # TOTEM keeps a ReLU after every strided conv
        if self.cf >= 8:
            x = F.relu(self._conv_A(x))
        if self.cf == 16:
            x = F.relu(self._conv_B(x))
        x = self._conv_3(x)
        x = self._residual_stack(x)
        return self._pre_vq_conv(x)


class Decoder(nn.Module):
    def __init__(self, hidden: int, n_res: int, res_hidden: int, dim: int, cf: int) -> None:
        super().__init__()
        self.cf = cf
        self._conv_1 = nn.Conv1d(dim, hidden, 3, 1, 1)
        self._residual_stack = ResidualStack(hidden, n_res, res_hidden)
        if cf >= 8:  # TOTEM's names: A for factor 8, A then B for 16
            self._conv_trans_A = nn.ConvTranspose1d(hidden, hidden, 4, 2, 1)
        if cf == 16:
            self._conv_trans_B = nn.ConvTranspose1d(hidden, hidden, 4, 2, 1)
        self._conv_trans_1 = nn.ConvTranspose1d(hidden, hidden // 2, 4, 2, 1)
        self._conv_trans_2 = nn.ConvTranspose1d(hidden // 2, 1, 4, 2, 1)

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        x = self._residual_stack(self._conv_1(inputs))
        if self.cf >= 8:
            x = F.relu(self._conv_trans_A(x))
        if self.cf == 16:
            x = F.relu(self._conv_trans_B(x))
        x = F.relu(self._conv_trans_1(x))
        return torch.squeeze(self._conv_trans_2(x))


class VectorQuantizer(nn.Module):
    """The Sonnet-style quantizer TOTEM uses: full distances, one-hot lookup by matmul."""

    def __init__(self, num_embeddings: int, dim: int, commitment_cost: float) -> None:
        super().__init__()
        self._embedding_dim = dim
        self._num_embeddings = num_embeddings
        self._embedding = nn.Embedding(num_embeddings, dim)
        self._embedding.weight.data.uniform_(-1 / num_embeddings, 1 / num_embeddings)
        self._commitment_cost = commitment_cost

    def forward(self, inputs: torch.Tensor):
        inputs = inputs.permute(0, 2, 1).contiguous()
        input_shape = inputs.shape
        flat = inputs.view(-1, self._embedding_dim)
        weight = self._embedding.weight
        distances = (
            torch.sum(flat**2, dim=1, keepdim=True)
            + torch.sum(weight**2, dim=1)
            - 2 * torch.matmul(flat, weight.t())
        )
        indices = torch.argmin(distances, dim=1).unsqueeze(1)
        encodings = torch.zeros(indices.shape[0], self._num_embeddings, device=inputs.device)
        encodings.scatter_(1, indices, 1)
        quantized = torch.matmul(encodings, weight).view(input_shape)
        e_latent_loss = F.mse_loss(quantized.detach(), inputs)
        q_latent_loss = F.mse_loss(quantized, inputs.detach())
        loss = q_latent_loss + self._commitment_cost * e_latent_loss
        quantized = inputs + (quantized - inputs).detach()
        avg_probs = torch.mean(encodings, dim=0)
        perplexity = torch.exp(-torch.sum(avg_probs * torch.log(avg_probs + 1e-10)))
        return loss, quantized.permute(0, 2, 1).contiguous(), perplexity, encodings, indices


class BaselineVQVAE(nn.Module):
    """TOTEM's vqvae: encoder, quantizer, decoder, each patch on its own."""

    def __init__(
        self,
        patch_size: int = 16,
        embedding_dim: int = 32,
        num_embeddings: int = 256,
        compression_factor: int = 4,
        block_hidden_size: int = 64,
        num_residual_layers: int = 2,
        res_hidden_size: int = 32,
        commitment_cost: float = 0.25,
        revin: bool = True,
    ) -> None:
        super().__init__()
        self.patch_size = patch_size
        args = (
            block_hidden_size,
            num_residual_layers,
            res_hidden_size,
            embedding_dim,
            compression_factor,
        )
        self.encoder = Encoder(*args)
        self.vq = VectorQuantizer(num_embeddings, embedding_dim, commitment_cost)
        self.decoder = Decoder(*args)
        self.revin = RevIN() if revin else None

    def forward(self, x: torch.Tensor):
        """Series [B, T] -> (recon loss, vq loss, perplexity), both losses per series."""
        if self.revin is not None:
            x = self.revin(x, "norm")
        n_patches = x.shape[1] // self.patch_size
        patches = x.reshape(-1, self.patch_size)  # [B*n_patches, patch_size]
        z = self.encoder(patches)
        vq_loss, quantized, perplexity, _, _ = self.vq(z)
        recon = self.decoder(quantized)
        recon_loss = F.mse_loss(recon, patches, reduction="sum") / x.shape[0]
        return recon_loss, vq_loss * n_patches, perplexity


def autocast_if_cuda(device: torch.device, amp: bool):
    """The original used AMP on CUDA only; on a CPU it trains in fp32."""
    return torch.autocast("cuda", enabled=amp and device.type == "cuda")


def baseline_step(
    model: BaselineVQVAE,
    optimizer: torch.optim.Optimizer,
    batch_x: torch.Tensor,
    device: torch.device,
    amp: bool = True,
    scaler: torch.amp.GradScaler | None = None,
) -> tuple[float, float, float]:
    """One training step on the first channel of a DataLoader batch; returns its losses."""
    x = batch_x[:, :, 0].to(device)
    optimizer.zero_grad()
    with autocast_if_cuda(device, amp):
        recon, vq, perp = model(x)
        loss = recon + vq
    if scaler is not None:
        scaler.scale(loss).backward()
        scaler.unscale_(optimizer)
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        scaler.step(optimizer)
        scaler.update()
    else:
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
    return recon.item(), vq.item(), perp.item()


def evaluate(
    model: BaselineVQVAE, loader: DataLoader, device: torch.device, amp: bool
) -> tuple[float, float, float]:
    model.eval()
    totals, n = np.zeros(3), 0
    with torch.no_grad():
        for batch_x, _ in loader:
            x = batch_x[:, :, 0].to(device)
            with autocast_if_cuda(device, amp):
                recon, vq, perp = model(x)
            totals += np.array([recon.item(), vq.item(), perp.item()]) * np.array(
                [x.shape[0], x.shape[0], 1]
            )
            n += x.shape[0]
    model.train()
    return totals[0] / n, totals[1] / n, totals[2] / len(loader)


# --- the trainer -----------------------------------------------------------------------------


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dset", default="ettm1")
    p.add_argument("--root_path", default=os.environ.get("TSVQ_DATA_DIR", "data"))
    p.add_argument("--data_path", default=None, help="CSV for a dataset not in the table")
    p.add_argument("--context_points", type=int, default=512)
    p.add_argument(
        "--target_points",
        type=int,
        default=0,
        help="PatchTST's get_dls needs it and the original never set it; 0 makes "
        "the baseline train on the same windows as tsvq",
    )
    p.add_argument("--batch_size", type=int, default=64)
    p.add_argument("--num_workers", type=int, default=0)
    p.add_argument("--scaler", default="standard")
    p.add_argument("--features", default="M")
    p.add_argument("--patch_size", type=int, default=16)
    p.add_argument("--embedding_dim", type=int, default=32)
    p.add_argument("--num_embeddings", type=int, default=256)
    p.add_argument("--compression_factor", type=int, default=4)
    p.add_argument("--block_hidden_size", type=int, default=64)
    p.add_argument("--num_residual_layers", type=int, default=2)
    p.add_argument("--res_hidden_size", type=int, default=32)
    p.add_argument("--commitment_cost", type=float, default=0.25)
    p.add_argument("--n_epochs", type=int, default=100)
    p.add_argument("--lr", type=float, default=1e-4)
    p.add_argument("--weight_decay", type=float, default=1e-4)
    p.add_argument("--revin", type=int, default=1)
    p.add_argument("--amp", type=int, default=1)
    p.add_argument("--patience", type=int, default=10)
    p.add_argument("--save_path", default="saved_models/vqvae_only/")
    p.add_argument("--model_id", default="1")
    args = p.parse_args()

    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    path = args.data_path or os.path.join(args.root_path, FILES[args.dset])
    loaders = {
        split: window_loader(
            path,
            args.dset,
            split,
            args.context_points,
            args.batch_size,
            args.target_points,
            num_workers=args.num_workers,
        )
        for split in ("train", "val")
    }
    cfg = {
        "patch_size": args.patch_size,
        "embedding_dim": args.embedding_dim,
        "num_embeddings": args.num_embeddings,
        "compression_factor": args.compression_factor,
        "block_hidden_size": args.block_hidden_size,
        "num_residual_layers": args.num_residual_layers,
        "res_hidden_size": args.res_hidden_size,
        "commitment_cost": args.commitment_cost,
        "revin": bool(args.revin),
    }
    model = BaselineVQVAE(**cfg).to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=args.weight_decay)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, args.n_epochs, eta_min=1e-6)
    scaler = torch.amp.GradScaler("cuda") if args.amp and device.type == "cuda" else None
    name = (
        f"vqvae_cw{args.context_points}_ps{args.patch_size}_ed{args.embedding_dim}"
        f"_cf{args.compression_factor}_cb{args.num_embeddings}_model{args.model_id}"
    )
    out = Path(args.save_path) / args.dset
    out.mkdir(parents=True, exist_ok=True)
    with open(out / f"{name}_config.json", "w") as f:
        json.dump({**cfg, "context_points": args.context_points}, f, indent=2)

    history, best, since_best = [], math.inf, 0
    for epoch in range(1, args.n_epochs + 1):
        totals, n, perps = np.zeros(2), 0, []
        for batch_x, _ in loaders["train"]:
            recon, vq, perp = baseline_step(
                model, optimizer, batch_x, device, bool(args.amp), scaler
            )
            totals += np.array([recon, vq]) * batch_x.shape[0]
            n += batch_x.shape[0]
            perps.append(perp)
        schedule.step()
        tr_recon, tr_vq, tr_perp = totals[0] / n, totals[1] / n, float(np.mean(perps))
        va_recon, va_vq, va_perp = evaluate(model, loaders["val"], device, bool(args.amp))
        tr_loss, va_loss = tr_recon + tr_vq, va_recon + va_vq
        print(
            f"Epoch {epoch:3d}/{args.n_epochs} | Train Loss: {tr_loss:.6f} (VQ: {tr_vq:.6f}, "
            f"Recon: {tr_recon:.6f}, Perp: {tr_perp:.2f}) | Valid Loss: {va_loss:.6f} "
            f"(VQ: {va_vq:.6f}, Recon: {va_recon:.6f}, Perp: {va_perp:.2f})",
            flush=True,
        )
        history.append([epoch, tr_loss, va_loss, tr_vq, va_vq, tr_recon, va_recon])
        if va_loss < best:
            best, since_best = va_loss, 0
            torch.save(
                {
                    "model_state_dict": model.state_dict(),
                    "config": cfg,
                    "args": vars(args),
                    "epoch": epoch,
                    "train_loss": tr_loss,
                    "val_loss": va_loss,
                },
                out / f"{name}.pth",
            )
            print(f"  -> Best model saved (val_loss: {va_loss:.6f})")
        else:
            since_best += 1
        with open(out / f"{name}_history.csv", "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(
                [
                    "epoch",
                    "train_loss",
                    "valid_loss",
                    "train_vq_loss",
                    "valid_vq_loss",
                    "train_recon_loss",
                    "valid_recon_loss",
                ]
            )
            w.writerows(history)
        if since_best >= args.patience:
            print(f"Early stopping at epoch {epoch}")
            break


if __name__ == "__main__":
    main()
