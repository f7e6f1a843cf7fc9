"""The baselines of `forecast.py`, and what a tokenizer's tokens lose, on forecast windows.

`forecast.py` imports the DLinear-style model, the naive forecasts and `score` from here. Run
alone, this prints a tokenizer's reconstruction MSE of test contexts beside its baselines on
the same contexts, each context in its own RevIN space (so the window mean scores about 1):
the equal-bit network-free k-means codebook (`tsvq.report.baseline`: `num_embeddings` centroids
of `compression_factor` steps fitted on training windows, as `tsvq eval` fits it: the same bits
per step as the tokens) and the window mean. Every `--every`-th test context:

    TSVQ_DATA_DIR=../shared/data python benchmarks/forecast_baselines.py \\
        --tokenizer /tmp/fc_tok/etth1/vqvae_cw512_ps16_ed32_cf4_cb256_model1.pth
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable

import numpy as np
import torch
from torch import nn

from tsvq import Tokenizer
from tsvq.data.windows import DataSpec, Scaler, SeriesData, load
from tsvq.model.revin import normalize
from tsvq.report.baseline import fit_codebook, series_errors

CHUNK = 256  # test windows per pass of the baselines


class DLinear(nn.Module):
    """Trend (a moving average, edges repeated) and remainder, a linear map of each to H."""

    def __init__(self, context: int, horizon: int, kernel: int = 25) -> None:
        super().__init__()
        self.pad = (kernel - 1) // 2
        self.average = nn.AvgPool1d(kernel, stride=1)
        self.trend = nn.Linear(context, horizon)
        self.rest = nn.Linear(context, horizon)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # [N, L] -> [N, H]
        padded = torch.cat(
            [x[:, :1].expand(-1, self.pad), x, x[:, -1:].expand(-1, self.pad)], dim=1
        )
        trend = self.average(padded[:, None])[:, 0]
        return self.trend(trend) + self.rest(x - trend)


NAIVE = {
    "last": lambda H: lambda x: x[:, -1:].expand(-1, H),
    "mean": lambda H: lambda x: x.mean(dim=1, keepdim=True).expand(-1, H),
}


def series_of(windows: np.ndarray, index: np.ndarray) -> torch.Tensor:
    """Series `index` of `windows` [n, C, T]: series k is channel k % C of window k // C."""
    c = windows.shape[1]
    return torch.from_numpy(np.ascontiguousarray(windows[index // c, index % c]))


@torch.inference_mode()
def score(windows: np.ndarray, L: int, predict: Callable[[torch.Tensor], torch.Tensor]) -> dict:
    """MSE and MAE per value of `predict` (contexts [N, L] -> [N, H]) over every window."""
    se = ae = count = 0.0
    n_series = windows.shape[0] * windows.shape[1]
    for lo in range(0, n_series, CHUNK * windows.shape[1]):
        x = series_of(windows, np.arange(lo, min(lo + CHUNK * windows.shape[1], n_series)))
        err = (predict(x[:, :L]) - x[:, L:]).double()
        se, ae, count = (
            se + float(err.pow(2).sum()),
            ae + float(err.abs().sum()),
            count + err.numel(),
        )
    return {"mse": se / count, "mae": ae / count, "windows": windows.shape[0]}


@torch.inference_mode()
def reconstruction(tok: Tokenizer, test: np.ndarray, data: SeriesData) -> dict:
    """MSE per value, in each context's RevIN space, of `tok`'s reconstruction of the contexts
    `test` [n, C, L] (scaled), of the equal-bit k-means codebook (`tsvq.report.baseline`, fitted
    on `data`'s training windows of L steps) and of the window mean."""
    c = tok.cfg
    identity = Scaler(
        "none", np.zeros(test.shape[1], np.float32), np.ones(test.shape[1], np.float32)
    )
    rows = np.ascontiguousarray(test.transpose(0, 2, 1))  # [n, L, C] as encode reads them
    back = tok.decode(tok.encode(rows, scaler=identity)).transpose(0, 2, 1)  # scaled units
    x, stats = normalize(torch.from_numpy(np.ascontiguousarray(test)))
    y = (torch.from_numpy(np.ascontiguousarray(back)) - stats.mean) / stats.std
    codebook = fit_codebook(data, c.num_embeddings, c.compression_factor, revin=True)
    series = torch.from_numpy(np.ascontiguousarray(test)).reshape(-1, test.shape[2])
    code_se, mean_se = series_errors(codebook, series, revin=True)
    return {
        "recon_mse": float((y - x).double().pow(2).mean()),
        "kmeans_mse": float(code_se.sum()) / series.numel(),
        "mean_mse": float(mean_se.sum()) / series.numel(),
        "windows": test.shape[0],
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--tokenizer", required=True)
    p.add_argument("--horizon", type=int, default=96)
    p.add_argument("--every", type=int, default=8, help="every N-th window of each split")
    args = p.parse_args()
    tok = Tokenizer.from_pretrained(args.tokenizer)
    L = tok.cfg.context_points
    data = load(DataSpec(tok.data.spec.dset, None, None, L))
    test = data.forecast_windows("test", args.horizon)[:: args.every, :, :L]
    out = reconstruction(tok, test, data)
    print(json.dumps({"dset": tok.data.spec.dset, "context": L, **out}))
    print(
        f"{tok.data.spec.dset}: tokenizer reconstruction (RevIN, {out['windows']} test contexts) "
        f"{out['recon_mse']:.4f}; equal-bit k-means {out['kmeans_mse']:.4f}; "
        f"window mean {out['mean_mse']:.4f}"
    )


if __name__ == "__main__":
    main()
