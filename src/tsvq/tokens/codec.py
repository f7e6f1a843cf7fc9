"""Encode a CSV file into a tokens file, and decode one back, in bounded memory.

`encode_csv` reads any CSV (a date column, then numeric columns) in chunks and writes a tokens
file (see `writer.FIELDS`): `codes` [n_windows, C, n_tokens] in the smallest unsigned type,
the statistics `mean` and `std` [n_windows, C], `start` (each window's first data row), the
scaler, the channel names, the tokenizer's fingerprint and, with `missing="interpolate"`, the
`mask` of tokens that touched a filled gap.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from tsvq.data.registry import CUSTOM, locate, resolve_path, split_rule
from tsvq.data.stream import CsvLayout, RowReader, fit_standard, scan
from tsvq.data.windows import Scaler, select_columns, split_bounds
from tsvq.errors import TsvqError
from tsvq.files import write_failed, write_with
from tsvq.tokens.gaps import Missing
from tsvq.tokens.npz import check_against, read_tokens
from tsvq.tokens.tokenizer import Tokenizer, origin_of
from tsvq.tokens.whole import encode_whole, recorded_columns, whole_read
from tsvq.tokens.writer import TokensWriter, header

# Values (windows x channels x time steps) per chunk of a streamed encode: with the CSV text
# pandas parses at once (stream.CHUNK_CELLS cells), this bounds memory whatever the file's length.
CHUNK_VALUES = 1 << 21


def source_of(
    tok: Tokenizer, dset: str | None, root_path: str | None, data_path: str | None
) -> tuple[str, Path, str | None]:
    """The dataset name and CSV to encode, and the sha256 the CSV must have (None: any).

    `dset` defaults to the tokenizer's own (custom when only `data_path` is given). The
    tokenizer's own dataset with no path typed is found as eval finds it (`registry.locate`:
    a custom CSV where the checkpoint recorded it, a registered one by name, each holding the
    bytes it was trained on); anything else is resolved from the flags as typed.
    """
    if data_path is not None and dset not in (None, CUSTOM):
        raise TsvqError(
            f"--data_path is for --dset custom; {dset} is read from the data "
            "directory (--root_path)"
        )
    own = tok.data.spec
    dset = dset or (CUSTOM if data_path else own.dset)
    if dset != own.dset or (dset == CUSTOM and data_path is not None):
        return dset, resolve_path(dset, root_path, data_path), None
    path, sha256 = locate(dset, root_path, data_path, own.data_path, tok.data.sha256)
    return dset, path, sha256


def encode_csv(
    tok: Tokenizer,
    path: Path,
    dset: str,
    split: str,
    stride: int,
    context_points: int | None,
    missing: Missing,
    out: str | Path,
    batch_size: int | None = None,
    sha256: str | None = None,
) -> tuple[int, int, int, int]:
    """Encode the windows of a CSV's split into tokens file `out`; return (windows, C, T, and
    the rows at the split's end that no window reaches: fewer than a stride past the last).

    The tokenizer's own benchmark dataset gives the training channels (features, target,
    channel as in training); any other file gives all its value columns, each named column
    scaled as in training if the tokenizer knows it. Memory stays bounded whatever the file's
    length: about CHUNK_VALUES values of windows and one CSV chunk at a time. `sha256`, when
    given, is the digest the CSV must have (`source_of`).
    """
    t = context_points or tok.cfg.context_points
    if t % tok.cfg.patch_size:
        p = tok.cfg.patch_size
        raise TsvqError(
            f"--context_points {t} must be a multiple of patch_size {p}: the nearest "
            f"are {f'{t // p * p} or ' if t > p else ''}{(t // p + 1) * p}"
        )
    spec = tok.data.spec
    if dset == CUSTOM == spec.dset and whole_read(path, spec):
        return encode_whole(tok, path, split, stride, t, missing, out, batch_size, sha256)
    layout = scan(path, dset, sha256=sha256)
    if dset == spec.dset and dset != CUSTOM:
        cols = select_columns(layout.columns, dset, spec.features, spec.target)
        if spec.channel is not None:
            cols = [cols[spec.channel]]
    elif dset == spec.dset:  # the columns the run chose from a file of its kind
        cols = [layout.columns.index(c) for c in recorded_columns(layout.columns, spec, path)]
    else:
        cols = list(range(len(layout.columns)))
    names = [layout.columns[i] for i in cols]
    gaps = missing == "interpolate"
    tok.scaler_for(len(names), names)  # refuses foreign columns without RevIN, before any work
    if split == "all":
        lo, hi = 0, layout.n_rows
        if hi < t:
            raise TsvqError(f"{path} has {hi} rows, fewer than one window of {t}")
    else:
        lo, hi = split_bounds(layout.n_rows, split_rule(dset), t)[split]
    n = (hi - lo - t) // stride + 1
    scaler = foreign_scaler(tok, layout, cols, names, t, dset, gaps)
    c, k = len(names), t // tok.cfg.compression_factor
    per_chunk = max(1, CHUNK_VALUES // (c * max(t, stride)))
    reader = RowReader(layout, cols, gaps)
    # the arrays stream into a temporary folder (TMPDIR) before they are zipped into `out`: a
    # full disk or a file-size limit there is one line too, and leaves nothing behind
    temporary = f"the temporary arrays of {out} (in {tempfile.gettempdir()})"
    try:
        writer = TokensWriter(n, c, k, tok.vocab_size, mask=gaps)
    except OSError as exc:
        raise write_failed(temporary, exc, tempfile.gettempdir()) from None
    try:
        for w0 in range(0, n, per_chunk):
            w1 = min(n, w0 + per_chunk)
            r0 = lo + w0 * stride
            rows = reader.rows(r0, r0 + (w1 - w0 - 1) * stride + t)  # [rows, C]
            windows = sliding_window_view(rows, t, axis=0)[::stride].swapaxes(1, 2)  # [w, T, C]
            enc = tok.encode(
                windows, missing=missing, columns=names, scaler=scaler, batch_size=batch_size
            )
            starts = r0 + stride * np.arange(w1 - w0, dtype=np.int64)
            writer.add(enc.codes, enc.mean, enc.std, starts, enc.mask)
        info = {"dset": dset, "split": split, "stride": stride, "missing": missing}
        writer.finish(out, header(origin_of(tok), names, scaler, k, info))
    except OSError as exc:  # the temporaries (a WriteFailed for `out` itself is a TsvqError)
        writer.close()
        raise write_failed(temporary, exc, tempfile.gettempdir()) from None
    except BaseException:
        writer.close()
        raise
    return n, c, t, hi - lo - ((n - 1) * stride + t)


def is_own_data(tok: Tokenizer, dset: str, path: Path) -> bool:
    """Whether `dset` at `path` is the data the tokenizer was trained on: its registered dataset,
    or the custom file it recorded (a collection, or a folder that keeps no paths: never)."""
    spec = tok.data.spec
    if dset != spec.dset:
        return False
    own_file = bool(spec.data_path) and Path(str(spec.data_path)).resolve() == path.resolve()
    return dset != CUSTOM or own_file


def foreign_scaler(
    tok: Tokenizer,
    layout: CsvLayout,
    cols: list[int],
    names: list[str],
    t: int,
    dset: str,
    gaps: bool,
) -> Scaler:
    """The tokenizer's scaler for its training columns; for any other column a standard scaler
    fitted on the file's training rows (its split rule's train part; the whole file if too short
    for one), as training would have scaled it. RevIN alone would normalize such a column up to
    its epsilon, which a column of small variance in its own units feels (benchmarks/
    tokenizer_reach.py measures it on exchange_rate)."""
    own, _ = tok.scaler_for(len(names), names)  # refuses foreign columns without RevIN
    foreign = [j for j, name in enumerate(names) if name not in tok.columns]
    if not foreign:
        return own
    try:
        lo, hi = split_bounds(layout.n_rows, split_rule(dset), t)["train"]
    except TsvqError:
        lo, hi = 0, layout.n_rows
    shift, scale = fit_standard(layout, [cols[j] for j in foreign], lo, hi, gaps)
    shifts, scales = own.shift.copy(), own.scale.copy()
    shifts[foreign], scales[foreign] = shift, scale
    return Scaler("standard" if len(foreign) == len(names) else "mixed", shifts, scales)


def decode_file(
    tok: Tokenizer,
    tokens_path: str | Path,
    out: str | Path,
    batch_size: int | None = None,
    source: str = "--checkpoint",
) -> tuple[int, ...]:
    """Decode tokens file `tokens_path` (checked against `tok`, named `source` in messages)
    into `out`: x [n_windows, T, C] in original units (T the length encoded, padding cut off),
    start, columns (and mask and index, if the tokens have them); returns x's shape."""
    tokens = read_tokens(tokens_path)
    check_against(tokens, tok, str(tokens_path), source)
    x = tok.decode(tokens.encoded(), batch_size=batch_size)
    kept = (("mask", tokens.mask), ("index", tokens.index), ("series", tokens.series))
    extra = {k: v for k, v in kept if v is not None}
    write_npz(out, {"x": x, "start": tokens.start, "columns": np.asarray(tokens.columns), **extra})
    return x.shape


def write_npz(out: str | Path, arrays: dict) -> None:
    """An .npz of `arrays`, atomically."""

    def write(tmp: Path) -> None:
        with open(tmp, "wb") as fh:  # a file object: np.savez would append .npz to a name
            np.savez(fh, **arrays)

    write_with(out, write)
