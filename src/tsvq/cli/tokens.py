"""`tsvq encode`, `tsvq decode`, `tsvq export`: the Tokenizer on the command line (the work is
done by `encode_file` and `export`)."""

from __future__ import annotations

import argparse
from pathlib import Path

from tsvq.cli.flags import CHECKPOINT_HELP, add_device_arg, positive_int
from tsvq.data.registry import DATASET_NAMES
from tsvq.data.windows import SPLITS
from tsvq.errors import TsvqError
from tsvq.files import check_outputs
from tsvq.tokens.gaps import MISSING


def _add_common(p: argparse.ArgumentParser, what: str) -> None:
    p.add_argument(
        "--checkpoint",
        required=True,
        help=CHECKPOINT_HELP,
    )
    p.add_argument("--out", required=True, help=what)
    p.add_argument(
        "--batch_size",
        type=positive_int,
        default=None,
        help="windows per forward pass (default: about 512 training windows' values)",
    )
    add_device_arg(p)


def add_encode_args(p: argparse.ArgumentParser) -> None:
    _add_common(p, "tokens file to write (.npz)")
    p.add_argument(
        "--dset",
        default=None,
        choices=DATASET_NAMES,
        help="dataset to encode (default: the one the tokenizer was trained on)",
    )
    p.add_argument(
        "--root_path",
        default=None,
        help="data directory (default: $TSVQ_DATA_DIR, else ~/.local/share/tsvq, "
        "else for ETT the copy inside tsvq)",
    )
    p.add_argument(
        "--data_path",
        default=None,
        help="CSV file for --dset custom: a date column, then any numeric columns",
    )
    p.add_argument(
        "--split",
        default="test",
        choices=(*SPLITS, "all"),
        help="rows to encode, cut as in training, or all: the whole file",
    )
    p.add_argument(
        "--stride",
        type=positive_int,
        default=1,
        help="rows between window starts (1: every window)",
    )
    p.add_argument(
        "--context_points",
        type=positive_int,
        default=None,
        help="window length T, any multiple of patch_size (default: the training one)",
    )
    p.add_argument(
        "--missing",
        default="error",
        choices=MISSING,
        help="blank, NaN or inf cells: refuse them (error), or fill them linearly "
        "along time in each window and store the mask of affected tokens (interpolate)",
    )


def add_decode_args(p: argparse.ArgumentParser) -> None:
    _add_common(
        p,
        "file to write (.npz) with x [n_windows, T, n_channels], start, columns "
        "(and mask and index, if the tokens have them)",
    )
    p.add_argument("--tokens", required=True, help="tokens file written by `tsvq encode`")


def add_export_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--checkpoint",
        required=True,
        help=CHECKPOINT_HELP,
    )
    p.add_argument(
        "--out", required=True, help="folder to write: config.json, model.safetensors, README.md"
    )


def run_encode(args: argparse.Namespace) -> int:
    from tsvq.tokens.codec import encode_csv, is_own_data, source_of
    from tsvq.tokens.tokenizer import Tokenizer

    _check_out_file(args.out)
    tok = Tokenizer.from_pretrained(args.checkpoint, device=args.device)
    dset, path, sha256 = source_of(tok, args.dset, args.root_path, args.data_path)
    inputs = {**_checkpoint_files(args.checkpoint), "the data file": path}
    check_outputs(inputs, [("--out", args.out)])
    _check_npz_name(args.out)
    n, c, t, left = encode_csv(
        tok,
        path,
        dset,
        args.split,
        args.stride,
        args.context_points,
        args.missing,
        args.out,
        args.batch_size,
        sha256,
    )
    tail = f"; left out the last {left} row(s): no window at stride {args.stride} reaches them"
    tail = tail if left else ""
    if not is_own_data(tok, dset, path):
        tail += (
            f" (zero-shot: {dset} is not the data {args.checkpoint} was trained on; a channel "
            "named as a training channel takes the training scaler, any other a standard "
            f"scaler fitted on {dset}'s own training split)"
        )
    print(
        f"Encoded {n} windows of {t} steps x {c} channel(s) ({args.split} of {dset}, stride "
        f"{args.stride}) into codes [{n}, {c}, {t // tok.cfg.compression_factor}]; wrote "
        f"{args.out}{tail}"
    )
    return 0


def run_decode(args: argparse.Namespace) -> int:
    from tsvq.tokens.codec import decode_file
    from tsvq.tokens.tokenizer import Tokenizer

    _check_out_file(args.out)
    inputs = {**_checkpoint_files(args.checkpoint), "--tokens": args.tokens}
    check_outputs(inputs, [("--out", args.out)])
    _check_npz_name(args.out)
    tok = Tokenizer.from_pretrained(args.checkpoint, device=args.device)
    shape = decode_file(
        tok, args.tokens, args.out, args.batch_size, f"--checkpoint {args.checkpoint}"
    )
    print(f"Decoded {shape[0]} windows into x {shape} (original units); wrote {args.out}")
    return 0


def run_export(args: argparse.Namespace) -> int:
    from tsvq.report.figures import test_figures
    from tsvq.tokens.export import export
    from tsvq.tokens.tokenizer import Tokenizer

    check_outputs(_checkpoint_files(args.checkpoint), folders=[("--out", args.out)])
    tok = Tokenizer.from_pretrained(args.checkpoint)
    figures, why = test_figures(tok)
    out = export(tok, args.out, figures)
    print(
        f"Exported tokenizer {tok.fingerprint} to {out}/ (config.json, model.safetensors); "
        f"load it with Tokenizer.from_pretrained({str(out)!r})"
    )
    if why:  # its words may name another command's flags: `tsvq eval` says them
        print(
            "The model card states no test figures: the data this tokenizer was trained on "
            "could not be read as it was (moved, changed or not recorded); tsvq eval says why"
        )
    return 0


def _checkpoint_files(checkpoint: str) -> dict[str, Path]:
    """What --checkpoint reads: the file, or the files of an exported folder (a Hub repo id
    names nothing on this disk)."""
    path = Path(checkpoint)
    if path.is_dir():
        return {"--checkpoint": path, **{f"--checkpoint's {f.name}": f for f in path.iterdir()}}
    return {"--checkpoint": path}


def _check_out_file(out: str) -> None:
    if Path(out).is_dir():
        raise TsvqError(f"--out {out} is a directory; give a file name such as tokens.npz")


def _check_npz_name(out: str) -> None:
    """encode and decode write one numpy archive: a name that promises another format (a
    `.csv` someone then opens as text) is refused, after the checks that an output is no input
    and no special file, whose messages say more."""
    path = Path(out)
    if path.suffix.lower() != ".npz":
        raise TsvqError(
            f"--out {out}: this command writes a numpy .npz archive, not "
            f"{path.suffix or 'a file without a suffix'}; give a name ending in .npz, "
            f"e.g. {path.with_suffix('.npz')}"
        )
