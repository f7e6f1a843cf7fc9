"""A tokenizer on a dataset it was not trained on (`tsvq eval --dset`, `tsvq plot --dset`).

The dataset is read, split by its own rule and scaled with a scaler fitted on its own training
split (the tokenizer's scaler kind; the tokenizer's own statistics belong to other data), all its
channels: the model is channel-independent, so any number of channels passes, one series at a
time. The equal-bit baseline beside it is fitted on that same training split (`report.verdict`).

A tokenizer trained without RevIN (`--revin 0`) is refused: it learned the scale of its training
data's values, and on another dataset its figures would measure that mismatch, not its tokens;
`tsvq train --init` fine-tunes it on the new data instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tsvq.data.registry import CUSTOM, resolve_path
from tsvq.data.table import read_table
from tsvq.data.windows import DataSpec, SeriesData, prepare
from tsvq.errors import TsvqError
from tsvq.tokens.tokenizer import Tokenizer


@dataclass(frozen=True)
class ZeroShot:
    """What `tsvq eval --dset` says of the data beside its figures (its --json `zero_shot`)."""

    tokenizer: str  # its name or path, as given
    fingerprint: str
    trained_on: str  # the tokenizer's own dataset name (custom: a collection or a file)
    trained_channels: int
    dset: str
    channels: int
    scaler: str  # the scaler's kind, fitted on `dset`'s training split
    scaler_fitted_on: str

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)

    def line(self) -> str:
        return (
            f"zero-shot: {self.tokenizer} (trained on {self.trained_on}, "
            f"{self.trained_channels} channel(s)) applied to {self.dset} ({self.channels} "
            f"channel(s), each on its own); scaler {self.scaler} fitted on "
            f"{self.scaler_fitted_on}, not the tokenizer's; the baselines fitted on the same "
            "training split"
        )


def foreign_data(
    tok: Tokenizer, dset: str, root_path: str | None = None, data_path: str | None = None
) -> tuple[SeriesData, ZeroShot]:
    """`dset` (a registered dataset, or `custom` with `data_path`), every channel, split by its
    own rule and scaled by a scaler fitted on its own training split; and what to say of it."""
    where = tok.run.source or "this tokenizer"
    if not tok.cfg.revin:
        raise TsvqError(
            f"--dset {dset}: {where} was trained without RevIN (tsvq train --revin 0), so it "
            "knows only the scale of its own training data; evaluate it on that (leave out "
            "--dset), or "
            f"fine-tune it on {dset} (tsvq train --init {where} --dset {dset})"
        )
    if dset == CUSTOM and data_path is None:
        raise TsvqError("--dset custom needs --data_path CSV (a date column, then numeric ones)")
    path = resolve_path(dset, root_path, data_path)
    spec = DataSpec(dset, root_path, data_path, tok.cfg.context_points, tok.data.spec.scaler)
    data = prepare(read_table(path, dset), spec)  # the scaler: fitted on its training split
    said = ZeroShot(
        tokenizer=where,
        fingerprint=str(tok.fingerprint),
        trained_on=tok.data.spec.dset,
        trained_channels=tok.n_channels,
        dset=dset,
        channels=data.n_channels,
        scaler=data.scaler.kind,
        scaler_fitted_on=f"the training split of {path.name if dset == CUSTOM else dset}",
    )
    return data, said
