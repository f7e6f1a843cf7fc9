"""Which scaler each channel of an input takes: the training scaler for a training column,
none for any other (RevIN alone normalizes it), or one the caller gives."""

from __future__ import annotations

import numpy as np

from tsvq.data.record import DataRecord
from tsvq.data.windows import Scaler
from tsvq.errors import TsvqError
from tsvq.tokens.inputs import check_scaler


def scaler_for(
    data: DataRecord, revin: bool, c: int, columns: list[str] | None, scaler: Scaler | None
) -> tuple[Scaler, list[str]]:
    """The scaler for C channels named `columns` (see `Tokenizer.encode`), and their names.

    `data` is what the tokenizer was trained on (its scaler fitted); `revin`: whether its model
    normalizes each window, without which only the training columns can be encoded.
    """
    own = data.scaler
    assert own is not None  # a tokenizer's record has its scaler
    trained = list(data.columns)
    if scaler is not None:
        fixed, names = scaler_for(data, revin, c, columns, None)  # refuses foreign columns
        if revin:
            return check_scaler(scaler, c), names
        same = np.array_equal(fixed.shift, scaler.shift) and np.array_equal(
            fixed.scale, scaler.scale
        )
        if not same:
            raise TsvqError(
                "this tokenizer was trained without RevIN: it scales its "
                "training columns with its own scaler only (scaler= differs)"
            )
        return fixed, names
    if columns is None:  # the training channels, or C unnamed channels of other data
        if c == len(trained):
            return own, trained
        names, known = [f"x{i}" for i in range(c)], [-1] * c
    elif isinstance(columns, str) or len(columns) != c:
        raise TsvqError(f"columns must name each of the {c} channel(s) of x, got {columns!r}")
    else:
        names = [str(name) for name in columns]
        twice = sorted({name for name in names if names.count(name) > 1})
        if twice:
            raise TsvqError(
                f"columns names {describe_columns(twice)} more than once; each channel needs "
                "its own name"
            )
        known = [trained.index(name) if name in trained else -1 for name in names]
    foreign = [name for name, i in zip(names, known, strict=True) if i < 0]
    if foreign and not revin:
        raise TsvqError(
            f"this tokenizer was trained without RevIN, so it encodes only its training "
            f"column(s) ({describe_columns(trained)}) with their scaler; got "
            f"{describe_columns(foreign)} (retrain with --revin 1 to tokenize other series)"
        )
    kind = own.kind if not foreign else "none" if len(foreign) == c else "mixed"
    shift = np.array([0.0 if i < 0 else own.shift[i] for i in known], np.float32)
    scale = np.array([1.0 if i < 0 else own.scale[i] for i in known], np.float32)
    return Scaler(kind, shift, scale), names


def describe_columns(columns: list[str], at_most: int = 8) -> str:
    """Channel names for a message: the first few, then how many in all."""
    head = ", ".join(columns[:at_most])
    return head if len(columns) <= at_most else f"{head}, ... ({len(columns)} in all)"
