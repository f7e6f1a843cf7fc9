"""A trained forecaster in use: loaded with its tokenizer, run over windows, scored on a split.

The score is PatchTST's (its Table 3): MSE and MAE per value on standardised data (the scaler
fitted on the training rows), per channel and over all channels, but over the WHOLE split:
PatchTST's test loader drops the last partial batch (`drop_last=True`, 97 of ETTh1's 2,785
test windows at its batch of 128 and horizon 96), this does not.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from tsvq.data.collection import Windows
from tsvq.data.registry import resolve_path
from tsvq.data.table import read_table
from tsvq.data.windows import SPLITS, Scaler, SeriesData, prepare
from tsvq.errors import TsvqError
from tsvq.forecast.inputs import Batch, batches, encode_split, fingerprint
from tsvq.forecast.model import Forecaster
from tsvq.forecast.record import ForecastRecord, build, load_record
from tsvq.tokens.channels import describe_columns
from tsvq.tokens.tokenizer import Tokenizer

SERIES_PER_PASS = 1024  # series per forward pass when forecasting a split


@dataclass
class Loaded:
    """A forecaster ready to run: its record, the model (eval mode) and the tokenizer."""

    record: ForecastRecord
    model: Forecaster
    tok: Tokenizer | None  # None for a forecaster on patches
    source: str  # the forecaster's file, for messages

    @property
    def horizon(self) -> int:
        return self.record.model.horizon

    @property
    def context_points(self) -> int:
        return self.record.model.context_points

    @property
    def columns(self) -> tuple[str, ...]:
        return self.record.data.columns

    @property
    def scaler(self) -> Scaler:
        """The scaler fitted on the training rows (the door builds every record with one)."""
        scaler = self.record.data.scaler
        if scaler is None:
            raise TsvqError(f"forecaster {self.source} records no scaler; the file is damaged")
        return scaler


def load_forecaster(
    path: str | Path, tokenizer: str | Path | None = None, device: str | torch.device = "cpu"
) -> Loaded:
    """A forecaster checkpoint with the tokenizer it was trained on: `tokenizer` (a checkpoint,
    an exported folder or a Hub id), by default the one recorded; its fingerprint must be the
    recorded one (codes of another tokenizer index another codebook)."""
    record = load_record(path)
    tok = None
    if record.tokenizer is not None:
        ref = record.tokenizer
        tok = Tokenizer.from_pretrained(
            tokenizer if tokenizer is not None else ref.source, device=device
        )
        if fingerprint(tok) != ref.fingerprint:
            raise TsvqError(
                f"tokenizer {tokenizer or ref.source} has fingerprint {fingerprint(tok)}, but "
                f"forecaster {path} was trained on the codes of tokenizer {ref.fingerprint} "
                f"({ref.source}); give that tokenizer with --tokenizer"
            )
    model = build(record, tok.codebook if tok is not None else None, path)
    return Loaded(record, model.to(device).eval(), tok, str(path))


def check_horizon(loaded: Loaded, horizon: int | None) -> None:
    """Refuse a horizon the forecaster was not trained for (None: its own)."""
    if horizon is not None and horizon != loaded.horizon:
        raise TsvqError(
            f"--horizon {horizon}: forecaster {loaded.source} was trained for horizon "
            f"{loaded.horizon}; train one with --horizon {horizon}"
        )


def load_data(
    loaded: Loaded, root_path: str | None = None, data_path: str | None = None
) -> SeriesData:
    """The forecaster's dataset, split as in training and scaled with the recorded scaler; the
    file must give the channels it was trained on."""
    spec = loaded.record.data.spec
    if data_path is not None and spec.dset != "custom":
        raise TsvqError(
            f"--data_path is for a forecaster trained on --dset custom; {loaded.source} was "
            f"trained on {spec.dset} (use --root_path for a data directory)"
        )
    if data_path is not None or root_path is not None:
        keep = spec.data_path if spec.dset == "custom" else None
        spec = replace(spec, root_path=root_path, data_path=data_path or keep)
        path = resolve_path(spec.dset, spec.root_path, spec.data_path)
    else:
        path = Path(spec.data_path) if spec.data_path else resolve_path(spec.dset, None, None)
    table = read_table(path, spec.dset)
    # the channels first (a scaler fitted here, as cheap as a copy): the recorded scaler
    # cannot even be applied to another number of them
    columns = prepare(table, spec).columns
    if tuple(columns) != loaded.columns:
        raise TsvqError(
            f"{path} gives the channels {describe_columns(columns)}; forecaster "
            f"{loaded.source} was trained on {describe_columns(list(loaded.columns))}"
        )
    return prepare(table, spec, scaler=loaded.scaler)


@torch.inference_mode()
def forecasts(
    loaded: Loaded, windows: Windows, codes: np.ndarray | None = None
) -> Iterator[tuple[Batch, torch.Tensor]]:
    """Each pass of series over `windows` [n, C, >= L] (scaled; series k is channel k % C of
    window k // C, in order) with its forecast [N, H] in scaled units. `codes`: the contexts'
    codes if made already (`encode_split`), else the tokenizer makes them here."""
    n, c, _ = windows.shape
    L = loaded.context_points
    if codes is None and loaded.tok is not None:
        codes = encode_split(loaded.tok, windows, L)
    device = next(loaded.model.parameters()).device
    for b in batches(windows, np.arange(n * c), SERIES_PER_PASS, L, codes):
        on = b.to(device)
        yield b, loaded.model(on.context, on.mean, on.std, on.ids).scaled(on.mean, on.std).cpu()


def evaluate(
    loaded: Loaded, data: SeriesData, split: str = "test", codes: np.ndarray | None = None
) -> dict[str, Any]:
    """MSE and MAE per value of `split` (standardised units), per channel and overall;
    `codes` of the split's contexts if made already (see `forecasts`)."""
    if split not in SPLITS:
        raise TsvqError(f"split={split!r} is not one of {', '.join(SPLITS)}")
    windows = data.forecast_windows(split, loaded.horizon)
    n, c, _ = windows.shape
    se, ae = torch.zeros(c, dtype=torch.float64), torch.zeros(c, dtype=torch.float64)
    done = 0
    for b, y_hat in forecasts(loaded, windows, codes):
        channel = torch.from_numpy(np.arange(done, done + len(y_hat)) % c)
        err = (y_hat - b.target).double()
        se.index_add_(0, channel, err.pow(2).sum(dim=1))
        ae.index_add_(0, channel, err.abs().sum(dim=1))
        done += len(y_hat)
    per = n * loaded.horizon  # values per channel
    return {
        "split": split,
        "dset": data.spec.dset,
        "epoch": loaded.record.epoch + 1,
        "context_points": loaded.context_points,
        "horizon": loaded.horizon,
        "inputs": loaded.record.model.inputs,
        "windows": n,
        "channels": c,
        "mse": float(se.sum() / (per * c)),
        "mae": float(ae.sum() / (per * c)),
        "per_channel": [
            {"channel": name, "mse": float(se[i] / per), "mae": float(ae[i] / per)}
            for i, name in enumerate(data.columns)
        ],
        "scored": "every window of the split (PatchTST's loader drops the last partial batch)",
    }


def format_table(r: dict[str, Any]) -> str:
    lines = [
        f"{r['dset']} {r['split']} split: {r['windows']} windows x {r['channels']} channel(s), "
        f"context {r['context_points']}, horizon {r['horizon']}, forecaster on {r['inputs']}, "
        f"epoch {r['epoch']}",
        "",
        f"{'channel':<16}{'mse':>12}{'mae':>12}",
    ]
    for ch in r["per_channel"]:
        lines.append(f"{str(ch['channel'])[:15]:<16}{ch['mse']:>12.6f}{ch['mae']:>12.6f}")
    lines.append(f"{'all':<16}{r['mse']:>12.6f}{r['mae']:>12.6f}")
    lines.append(
        "(per value, on standardised data: the scaler fitted on the training rows; every "
        "window of the split is scored, where PatchTST's loader drops the last partial batch)"
    )
    return "\n".join(lines)
