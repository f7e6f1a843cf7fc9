"""pandas input to `Tokenizer.encode`: a DataFrame's columns name its channels, its index
times its rows. Checked here, one `TsvqError` per fault; the values leave as a numpy array."""

from __future__ import annotations

import numpy as np
import pandas as pd

from tsvq.errors import TsvqError
from tsvq.tokens.channels import describe_columns


def unframed(
    x: object, columns: list[str] | None, name: str = "x"
) -> tuple[object, list[str] | None, np.ndarray | None]:
    """`x` as values, the names of its channels and the label of its first row.

    A DataFrame [T, C] gives its values, its column names and its index's first label; a
    Series [T] its values (one channel), its name if it has one, and its first label. Anything
    else passes as it is, with `columns` and no label.
    """
    if not isinstance(x, pd.DataFrame | pd.Series):
        return x, columns, None
    if columns is not None:
        raise TsvqError(
            "pass columns= with an array or tensor only: a DataFrame's channels are named by "
            "its columns (select or rename them there)"
        )
    frame = x.to_frame() if isinstance(x, pd.Series) else x
    names = [str(c) for c in frame.columns]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise TsvqError(
            f"{name} names column(s) {describe_columns(twice)} more than once; each channel "
            "needs its own name"
        )
    for col, dtype in zip(names, frame.dtypes, strict=True):
        if not pd.api.types.is_numeric_dtype(dtype) or pd.api.types.is_bool_dtype(dtype):
            raise TsvqError(
                f"column {col!r} of {name} holds {dtype} values, not numbers; select the "
                "value columns (df.select_dtypes('number'), or df[[...]])"
            )
    check_order(frame.index, name)
    as_f32 = all(dtype == np.float32 for dtype in frame.dtypes)
    values = frame.to_numpy(np.float32 if as_f32 else np.float64, na_value=np.nan)
    if isinstance(x, pd.Series):
        return values[:, 0], None if x.name is None else names, first_label(frame.index)
    return values, names, first_label(frame.index)


def check_order(index: pd.Index, name: str) -> None:
    """A series' rows are in time order: its index strictly increasing, else one line."""
    if index.is_monotonic_increasing and index.is_unique:
        return
    try:
        labels = index.to_numpy()
        i = next(j for j in range(1, len(labels)) if not labels[j - 1] < labels[j])
        where = f": row {i} ({labels[i]}) comes after {labels[i - 1]}"
    except TypeError:  # labels of kinds that do not compare
        where = " (its labels cannot be ordered)"
    raise TsvqError(
        f"the index of {name} is not strictly increasing{where}; a series' rows must be in time "
        "order: sort them (df.sort_index()), or drop an index that is not time "
        "(df.reset_index(drop=True))"
    )


def first_label(index: pd.Index) -> np.ndarray:
    """[1] the index's first label, in a type a tokens file holds: a time stamp (datetime64),
    an integer, a float, or else its text (a time zone's offset kept in the text)."""
    if len(index) == 0:
        return np.asarray([], dtype=str)
    head = index[:1]
    if isinstance(head, pd.DatetimeIndex) and head.tz is None:
        return head.to_numpy().astype("datetime64[ns]")
    kind = head.dtype.kind if isinstance(head.dtype, np.dtype) else "O"
    if kind in "iuf":
        return head.to_numpy()
    return np.asarray([str(head[0])])
