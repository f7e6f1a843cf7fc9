"""Where a tokenizer loses to the equal-bit codebook: the test MSE split by kind of segment.

    TSVQ_DATA_DIR=../shared/data python benchmarks/segment_errors.py --dset illness \\
        --tokenizer general=tsvq/general --tokenizer held-out=runs/pretrain/general-no-illness

Every window of the dataset's test split (scaled by its own training split, the tokenizers'
context), in RevIN space, is cut into segments of `compression_factor` steps, the span one
token stands for. Each segment is binned by its rise (|last - first| value) and, separately,
by its amplitude (largest |value|), at the 50th, 80th, 95th and 99th percentiles of the
split's segments. For the k-means codebook fitted on the dataset's own training split
(`tsvq.report.baseline`, the tokenizers' K and factor) and each tokenizer, a bin's cell is
its share of the MSE: the bin's summed squared error over all the split's values, so a
column's cells add up to its MSE. Tokenizers decode a whole patch from its tokens, so a
segment's error is the part of its patch's error that falls in it.
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

from tsvq.data.windows import SeriesData
from tsvq.report.baseline import fit_codebook, model_space, segment_errors
from tsvq.report.evaluate import ERRORS, chunk_errors, window_chunks
from tsvq.report.scores import target_data
from tsvq.tokens.tokenizer import Tokenizer

QUANTILES = (0.5, 0.8, 0.95, 0.99)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--dset", required=True)
    p.add_argument("--tokenizer", action="append", required=True, help="LABEL=NAME (repeat)")
    args = p.parse_args()
    columns = {}
    for item in args.tokenizer:
        label, _, name = item.partition("=")
        columns[label] = Tokenizer.from_pretrained(name or label)
    first = next(iter(columns.values()))
    cfg = first.cfg
    for tok in columns.values():
        same = (tok.cfg.context_points, tok.cfg.num_embeddings, tok.cfg.compression_factor)
        if same != (cfg.context_points, cfg.num_embeddings, cfg.compression_factor):
            p.error("every tokenizer needs the first's context, K and compression factor")
    data = target_data(args.dset, cfg.context_points)
    codebook = fit_codebook(data, cfg.num_embeddings, cfg.compression_factor, revin=True)
    segments, errors = split_errors(data, codebook, columns)
    total = segments.numel()
    print(
        f"{args.dset}: {segments.shape[0]} test segments of {cfg.compression_factor} steps, "
        f"RevIN space; each cell the bin's share of the MSE"
    )
    features = {
        "rise": (segments[:, -1] - segments[:, 0]).abs(),
        "amplitude": segments.abs().amax(dim=1),
    }
    for name, value in features.items():
        print()
        print(table(name, value, errors, total))


@torch.inference_mode()
def split_errors(
    data: SeriesData, codebook: torch.Tensor, columns: dict[str, Tokenizer]
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """The test split's segments [S, cf] in RevIN space and each column's squared error per
    segment [S] (float64): k-means first (`report.baseline`), then every tokenizer (its
    per-element errors as `tsvq eval` computes them: `report.evaluate.chunk_errors`)."""
    cf = codebook.shape[1]
    parts: dict[str, list[torch.Tensor]] = {"k-means": [], **{k: [] for k in columns}}
    segs = []
    for chunk in window_chunks(data, "test"):  # [b, C, T], scaled
        x = torch.from_numpy(chunk)
        b, c, t = x.shape
        xm = model_space(x.reshape(b * c, t), revin=True)
        segs.append(xm.reshape(-1, cf))
        parts["k-means"].append(segment_errors(codebook, xm))
        for label, tok in columns.items():
            errors = {k: torch.empty(b * c, t, dtype=torch.float64) for k in ERRORS}
            counts = torch.zeros(tok.cfg.num_embeddings, dtype=torch.float64)
            chunk_errors(tok.model, x, data.scaler, b * c, errors, counts)
            parts[label].append(errors["se"].reshape(-1, cf).sum(dim=1))
    return torch.cat(segs), {k: torch.cat(v) for k, v in parts.items()}


def table(name: str, value: torch.Tensor, errors: dict[str, torch.Tensor], total: int) -> str:
    """One markdown table: a row per bin of `value`, a column per error, and the whole MSE."""
    edges = [0.0, *torch.quantile(value.double(), torch.tensor(QUANTILES).double()).tolist()]
    edges.append(float("inf"))
    head = [f"{name} (RevIN units)", "segments", *errors]
    lines = ["| " + " | ".join(head) + " |", "|---|---:|" + "---:|" * len(errors)]
    for lo, hi in zip(edges[:-1], edges[1:], strict=True):
        sel = (value >= lo) & (value < hi)
        cells = [f"{lo:.2f} to {hi:.2f}" if np.isfinite(hi) else f"{lo:.2f} and above"]
        cells += [str(int(sel.sum()))]
        cells += [f"{float(e[sel].sum()) / total:.5f}" for e in errors.values()]
        lines.append("| " + " | ".join(cells) + " |")
    whole = [f"{float(e.sum()) / total:.5f}" for e in errors.values()]
    lines.append("| all (MSE) | " + str(value.numel()) + " | " + " | ".join(whole) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
