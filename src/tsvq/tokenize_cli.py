"""`tsvq encode`, `tsvq decode`, `tsvq export`: the Tokenizer on the command line.

`encode` reads any CSV (a date column, then numeric columns) in bounded memory and writes a
tokens file (see `tokens_file.FIELDS`): `codes` [n_windows, C, n_tokens] in the smallest unsigned
type, the statistics `mean` and `std` [n_windows, C], `start` (each window's first data row),
the scaler, the channel names, the tokenizer's fingerprint and, with `--missing interpolate`,
the `mask` of tokens that touched a filled gap.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from .cli import _positive_int, add_device_arg
from .data import SPLITS, Scaler, select_columns, split_bounds
from .datasets import CUSTOM, DATASET_NAMES, resolve_path, split_rule
from .errors import TsvqError
from .files import write_with
from .gaps import MISSING
from .stream import CsvLayout, RowReader, fit_standard, scan
from .tokenizer import Tokenizer, load
from .tokens_file import TokensWriter, check_against, header, read_tokens

# Values (windows x channels x time steps) per chunk of a streamed encode: with the CSV text
# pandas parses at once (stream.CHUNK_CELLS cells), this bounds memory whatever the file's length.
CHUNK_VALUES = 1 << 21


def _add_common(p: argparse.ArgumentParser, what: str) -> None:
    p.add_argument("--checkpoint", required=True,
                   help="a training checkpoint (.pth), a folder written by `tsvq export`, or a "
                        "Hugging Face Hub repo id")
    p.add_argument("--out", required=True, help=what)
    p.add_argument("--batch_size", type=_positive_int, default=None,
                   help="windows per forward pass (default: about 512 training windows' values)")
    add_device_arg(p)


def add_encode_args(p: argparse.ArgumentParser) -> None:
    _add_common(p, "tokens file to write (.npz)")
    p.add_argument("--dset", default=None, choices=DATASET_NAMES,
                   help="dataset to encode (default: the one the tokenizer was trained on)")
    p.add_argument("--root_path", default=None,
                   help="data directory (default: $TSVQ_DATA_DIR, else ~/.local/share/tsvq, "
                        "else for ETT the copy inside tsvq)")
    p.add_argument("--data_path", default=None,
                   help="CSV file for --dset custom: a date column, then any numeric columns")
    p.add_argument("--split", default="test", choices=(*SPLITS, "all"),
                   help="rows to encode, cut as in training, or all: the whole file "
                        "(default test)")
    p.add_argument("--stride", type=_positive_int, default=1,
                   help="rows between window starts (default 1: every window)")
    p.add_argument("--context_points", type=_positive_int, default=None,
                   help="window length T, any multiple of patch_size (default: the training one)")
    p.add_argument("--missing", default="error", choices=MISSING,
                   help="blank, NaN or inf cells: refuse them (default), or fill them linearly "
                        "along time in each window and store the mask of affected tokens")


def add_decode_args(p: argparse.ArgumentParser) -> None:
    _add_common(p, "file to write (.npz) with x [n_windows, T, n_channels], start, columns "
                   "(and mask, if the tokens have one)")
    p.add_argument("--tokens", required=True, help="tokens file written by `tsvq encode`")


def add_export_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--checkpoint", required=True,
                   help="a training checkpoint (.pth), an exported folder or a Hub repo id")
    p.add_argument("--out", required=True,
                   help="folder to write: config.json, model.safetensors, README.md")


def cmd_encode(args: argparse.Namespace) -> int:
    _check_out_file(args.out)
    if args.data_path is not None and args.dset not in (None, CUSTOM):
        raise TsvqError(f"--data_path is for --dset custom; {args.dset} is read from the data "
                        "directory (--root_path)")
    tok = load(args.checkpoint, device=args.device)
    dset = args.dset or (CUSTOM if args.data_path else tok.data["dset"])
    data_path = args.data_path
    if data_path is None and dset == CUSTOM == tok.data["dset"]:
        # a checkpoint remembers its custom CSV; a folder does not
        data_path = tok.record.data.spec.data_path if tok.record else None
    n, c, t = encode_csv(tok, resolve_path(dset, args.root_path, data_path), dset,
                         args.split, args.stride, args.context_points, args.missing, args.out,
                         args.batch_size)
    print(f"Encoded {n} windows of {t} steps x {c} channel(s) ({args.split} of {dset}, stride "
          f"{args.stride}) into codes [{n}, {c}, {t // tok.cfg.compression_factor}]; wrote "
          f"{args.out}")
    return 0


def cmd_decode(args: argparse.Namespace) -> int:
    _check_out_file(args.out)
    tok = load(args.checkpoint, device=args.device)
    tokens = read_tokens(args.tokens)
    check_against(tokens, tok, args.tokens)
    x = tok.decode(tokens.encoded(), batch_size=args.batch_size)
    extra = {} if tokens.mask is None else {"mask": tokens.mask}  # tokens that touched a fill
    _write_npz(args.out, {"x": x, "start": tokens.start, "columns": np.asarray(tokens.columns),
                          **extra})
    print(f"Decoded {len(x)} windows into x {x.shape} (original units); wrote {args.out}")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from .export import export

    tok = load(args.checkpoint)
    out = export(tok, args.out)
    print(f"Exported tokenizer {tok.fingerprint()} to {out}/ (config.json, model.safetensors); "
          f"load it with Tokenizer.from_pretrained({str(out)!r})")
    return 0


def encode_csv(
    tok: Tokenizer, path: Path, dset: str, split: str, stride: int, context_points: int | None,
    missing: str, out: str | Path, batch_size: int | None = None,
) -> tuple[int, int, int]:
    """Encode the windows of a CSV's split into tokens file `out`; return (windows, C, T).

    The tokenizer's own benchmark dataset gives the training channels (features, target,
    channel as in training); any other file gives all its value columns, each named column
    scaled as in training if the tokenizer knows it. Memory stays bounded whatever the file's
    length: about CHUNK_VALUES values of windows and one CSV chunk at a time.
    """
    t = context_points or tok.cfg.context_points
    if t % tok.cfg.patch_size:
        p = tok.cfg.patch_size
        raise TsvqError(f"--context_points {t} must be a multiple of patch_size {p}: the nearest "
                        f"are {f'{t // p * p} or ' if t > p else ''}{(t // p + 1) * p}")
    layout = scan(path)
    if dset == tok.data["dset"] and dset != CUSTOM:
        cols = select_columns(layout.columns, dset, tok.data["features"], tok.data["target"])
        if tok.data["channel"] is not None:
            cols = [cols[tok.data["channel"]]]
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
    writer = TokensWriter(n, c, k, tok.vocab_size, mask=gaps)
    try:
        for w0 in range(0, n, per_chunk):
            w1 = min(n, w0 + per_chunk)
            r0 = lo + w0 * stride
            rows = reader.rows(r0, r0 + (w1 - w0 - 1) * stride + t)  # [rows, C]
            windows = sliding_window_view(rows, t, axis=0)[::stride].swapaxes(1, 2)  # [w, T, C]
            enc = tok.encode(windows, missing=missing, columns=names, scaler=scaler,
                             batch_size=batch_size)
            writer.add(enc, r0 + stride * np.arange(w1 - w0, dtype=np.int64))
    except BaseException:
        writer.close()
        raise
    writer.finish(out, header(tok, names, scaler, k, {"dset": dset, "split": split,
                                                      "stride": stride, "missing": missing}))
    return n, c, t


def foreign_scaler(tok: Tokenizer, layout: CsvLayout, cols: list[int], names: list[str], t: int,
                   dset: str, gaps: bool) -> Scaler:
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


def _check_out_file(out: str) -> None:
    if Path(out).is_dir():
        raise TsvqError(f"--out {out} is a directory; give a file name such as tokens.npz")


def _write_npz(out: str, arrays: dict) -> None:
    def write(tmp: Path) -> None:
        with open(tmp, "wb") as fh:  # a file object: np.savez would append .npz to a name
            np.savez(fh, **arrays)

    write_with(out, write)
