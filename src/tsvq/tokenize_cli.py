"""`tsvq encode`, `tsvq decode`, `tsvq export`: the Tokenizer on the command line.

A tokens file (`encode --out`) is an .npz holding `codes` [n_windows, C, n_tokens], the RevIN
statistics `mean` and `std` [n_windows, C], `start` (each window's first row in the CSV file),
the training scaler, the channel names and what identifies the tokenizer that made it.
"""

from __future__ import annotations

import argparse
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from .cli import _positive_int, add_device_arg
from .data import SPLITS, DataSpec, Scaler, prepare
from .datasets import CUSTOM, DATASET_NAMES, read_table, resolve_path
from .errors import TsvqError
from .files import write_with
from .tokenizer import Encoded, Tokenizer, describe_columns

TOKENS_FORMAT = "tsvq-tokens"
TOKENS_VERSION = 1
# Everything a tokens file must hold to be decoded, and what it must agree on with the tokenizer.
TOKENS_KEYS = ("format", "format_version", "codes", "mean", "std", "start", "columns",
               "scaler_kind", "scaler_shift", "scaler_scale", "tokenizer", "context_points",
               "n_tokens", "num_embeddings")


def _add_common(p: argparse.ArgumentParser, what: str) -> None:
    p.add_argument("--checkpoint", required=True,
                   help="a training checkpoint (.pth) or a folder written by `tsvq export`")
    p.add_argument("--out", required=True, help=what)
    p.add_argument("--batch_size", type=_positive_int, default=None,
                   help="windows per forward pass (default: about 512 series)")
    add_device_arg(p)


def add_encode_args(p: argparse.ArgumentParser) -> None:
    _add_common(p, "tokens file to write (.npz)")
    p.add_argument("--dset", default=None, choices=DATASET_NAMES,
                   help="dataset to encode (default: the one the tokenizer was trained on)")
    p.add_argument("--root_path", default=None,
                   help="data directory (default: $TSVQ_DATA_DIR, else ~/.local/share/tsvq, "
                        "else for ETT the copy inside tsvq)")
    p.add_argument("--data_path", default=None, help="CSV file for --dset custom")
    p.add_argument("--split", default="test", choices=SPLITS,
                   help="rows to encode, cut as in training")
    p.add_argument("--stride", type=_positive_int, default=1,
                   help="rows between window starts (1: every window of the split)")


def add_decode_args(p: argparse.ArgumentParser) -> None:
    _add_common(p, "file to write (.npz) with x [n_windows, context_points, n_channels]")
    p.add_argument("--tokens", required=True, help="tokens file written by `tsvq encode`")


def add_export_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--checkpoint", required=True, help="a training checkpoint (.pth)")
    p.add_argument("--out", required=True,
                   help="folder to write: config.json, model.safetensors, README.md")


def cmd_encode(args: argparse.Namespace) -> int:
    _check_out_file(args.out)
    tok = Tokenizer.from_pretrained(args.checkpoint, device=args.device)
    dset = args.dset or tok.data["dset"]
    windows, start = split_windows(tok, dset, args.root_path, args.data_path, args.split,
                                   args.stride)
    enc = tok.encode(windows, batch_size=args.batch_size)
    _write_npz(args.out, {
        "format": TOKENS_FORMAT, "format_version": TOKENS_VERSION,
        "codes": enc.codes, "mean": enc.mean, "std": enc.std, "start": start,
        "columns": np.asarray(tok.columns), "scaler_kind": enc.scaler.kind,
        "scaler_shift": enc.scaler.shift, "scaler_scale": enc.scaler.scale,
        "tokenizer": tok.fingerprint(), "context_points": tok.cfg.context_points,
        "n_tokens": tok.n_tokens, "num_embeddings": tok.vocab_size,
        "dset": dset, "split": args.split, "stride": args.stride,
    })
    print(f"Encoded {len(enc)} windows of the {args.split} split of {dset} (stride "
          f"{args.stride}) into codes {enc.codes.shape}; wrote {args.out}")
    return 0


def cmd_decode(args: argparse.Namespace) -> int:
    _check_out_file(args.out)
    tok = Tokenizer.from_pretrained(args.checkpoint, device=args.device)
    tokens = read_tokens(args.tokens)
    check_compatible(tokens, tok, args.tokens)
    scaler = Scaler(str(tokens["scaler_kind"]), tokens["scaler_shift"], tokens["scaler_scale"])
    enc = Encoded(tokens["codes"], tokens["mean"], tokens["std"], scaler)
    x = tok.decode(enc, batch_size=args.batch_size)
    _write_npz(args.out, {"x": x, "start": tokens["start"], "columns": tokens["columns"]})
    print(f"Decoded {len(enc)} windows into x {x.shape} (original units); wrote {args.out}")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from .export import export

    tok = Tokenizer.from_pretrained(args.checkpoint)
    out = export(tok, args.out)
    print(f"Exported tokenizer {tok.fingerprint()} to {out}/ (config.json, model.safetensors); "
          f"load it with Tokenizer.from_pretrained({str(out)!r})")
    return 0


def split_windows(
    tok: Tokenizer, dset: str, root_path: str | None, data_path: str | None, split: str,
    stride: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Windows [n, T, C] of a split in original units (a view) and each one's first file row.

    Rows and channels are chosen as in training (split rule, features, target, channel); the
    tokenizer applies its own saved scaler, so nothing is refitted on this data.
    """
    if data_path is not None and dset != CUSTOM:
        raise TsvqError(f"--data_path is for --dset custom; {dset} is read from the data "
                        "directory (--root_path)")
    spec = DataSpec(dset=dset, root_path=root_path, data_path=data_path,
                    context_points=tok.cfg.context_points, scaler="none",
                    features=tok.data["features"], target=tok.data["target"],
                    channel=tok.data["channel"])
    path = resolve_path(dset, root_path, data_path)
    data = prepare(read_table(path, dset), spec)  # scaler "none": values stay in file units
    if data.columns != tok.columns:
        raise TsvqError(
            f"{path} gives channel(s) {describe_columns(data.columns)}; the tokenizer was "
            f"trained on {describe_columns(tok.columns)} and its scaler fits those only"
        )
    windows = data.windows(split)[::stride].swapaxes(1, 2)  # [n, T, C], a view
    start = data.starts[split] + np.arange(0, data.n_windows(split), stride, dtype=np.int64)
    return windows, start


def read_tokens(path: str | Path) -> dict[str, np.ndarray]:
    """Load and check a tokens file written by `tsvq encode`."""
    p = Path(path)
    if not p.is_file():
        what = "a directory" if p.is_dir() else "not found"
        raise TsvqError(f"tokens file {p} is {what}; expected an .npz from `tsvq encode`")
    try:
        with np.load(p, allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as exc:
        raise TsvqError(f"cannot read tokens file {p}: {str(exc).strip()[:200]}") from None
    missing = [k for k in TOKENS_KEYS if k not in arrays]
    if missing or str(arrays["format"]) != TOKENS_FORMAT:
        raise TsvqError(f"{p} is not a tsvq tokens file (lacks {', '.join(missing or ['format'])}"
                        "); write one with `tsvq encode`")
    n = arrays["codes"].shape[0] if arrays["codes"].ndim else -1
    if arrays["start"].shape != (n,):
        raise TsvqError(f"{p}: 'start' has shape {arrays['start'].shape}, expected ({n},)")
    return arrays


def check_compatible(tokens: dict[str, np.ndarray], tok: Tokenizer, path: str | Path) -> None:
    """Refuse tokens made by a tokenizer of another configuration or with other weights."""
    mine: dict[str, Any] = {"context_points": tok.cfg.context_points, "n_tokens": tok.n_tokens,
                            "num_embeddings": tok.vocab_size}
    diff = [f"{k} {int(tokens[k])} vs {v}" for k, v in mine.items() if int(tokens[k]) != v]
    cols = [str(c) for c in tokens["columns"]]
    if cols != tok.columns:
        diff.append(f"channels {describe_columns(cols)} vs {describe_columns(tok.columns)}")
    if diff:
        raise TsvqError(f"{path} was made by a tokenizer of another configuration "
                        f"({'; '.join(diff)}; tokens file vs --checkpoint)")
    if str(tokens["tokenizer"]) != tok.fingerprint():
        raise TsvqError(
            f"{path} was made by another model (tokenizer {tokens['tokenizer']}, --checkpoint is "
            f"{tok.fingerprint()}): its codes index a different codebook"
        )


def _check_out_file(out: str) -> None:
    if Path(out).is_dir():
        raise TsvqError(f"--out {out} is a directory; give a file name such as tokens.npz")


def _write_npz(out: str, arrays: dict[str, Any]) -> None:
    def write(tmp: Path) -> None:
        with open(tmp, "wb") as fh:  # a file object: np.savez would append .npz to a name
            np.savez(fh, **arrays)

    write_with(out, write)
