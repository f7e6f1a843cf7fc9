"""Command line: `tsvq train|...`; every user error becomes one line on stderr and exit status 2."""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import NoReturn

from . import flagrules
from .errors import TsvqError
from .signals import command_signals, interrupted_status


class Parser(argparse.ArgumentParser):
    """argparse that reports a bad flag in one line and exits with status 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message}\n")

    def parse_known_args(self, args=None, namespace=None):  # noqa: ANN001, ANN201 - argparse's
        # argparse drops a value of "--" ("--lr=--") and keeps the default: refuse it here, so
        # every way in (main, tests, a user's own parse_args) says so
        for a in sys.argv[1:] if args is None else args:
            if isinstance(a, str) and a.startswith("--") and a.endswith("=--"):
                self.error(f"argument {a.split('=', 1)[0]}: expected a value, got '--'")
        return super().parse_known_args(args, namespace)


def _positive_int(text: str) -> int:
    return _int_at_least(text, 1)


def _non_negative_int(text: str) -> int:
    return _int_at_least(text, 0)


def _int_at_least(text: str, low: int) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if value < low:
        raise argparse.ArgumentTypeError(f"must be >= {low}, got {value}")
    return value


# torch.manual_seed takes up to 2^64 - 1, but the quantizer derives seeds from it
# (seed * 1_000_003 + ...): 2^32 - 1, numpy's classic bound, keeps every derived seed in range.
MAX_SEED = 2**32 - 1


def _seed(text: str) -> int:
    value = _int_at_least(text, 0)
    if value > MAX_SEED:
        raise argparse.ArgumentTypeError(f"must be at most {MAX_SEED} (2^32 - 1), got {value}")
    return value


def _positive_float(text: str) -> float:
    value = _float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
    return value


def _non_negative_float(text: str) -> float:
    value = _float(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {text}")
    return value


def _float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if value != value or value in (float("inf"), float("-inf")):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
    return value


def _flag01(text: str) -> int:
    if text not in ("0", "1"):
        raise argparse.ArgumentTypeError(f"expected 0 or 1, got {text!r}")
    return int(text)


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Help that shows every option's default, and keeps a description's line breaks."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        if ("%(default)" in text or not action.option_strings or action.required
                or action.default in (None, False, argparse.SUPPRESS)):
            return text
        return f"{text} (default: %(default)s)" if text else "default: %(default)s"


DEVICES = ("auto", "cpu", "cuda")


def add_device_arg(p: argparse.ArgumentParser | argparse._ArgumentGroup) -> None:
    """`--device`, with one default for every command: a GPU when there is one."""
    p.add_argument("--device", default="auto", choices=DEVICES,
                   help="where to compute: auto picks CUDA when a GPU is available, else the CPU")


def add_train_args(p: argparse.ArgumentParser) -> None:
    from .datasets import DATASET_NAMES
    from .quantizer import CODEBOOK_INITS, GRADIENTS, QUANTIZERS

    g = p.add_argument_group("data: which series, cut into windows how")
    g.add_argument("--dset", default="ettm1", choices=DATASET_NAMES,
                   help="benchmark dataset, or custom with --data_path")
    g.add_argument("--context_points", type=_positive_int, default=512,
                   help="window length in time steps")
    g.add_argument("--batch_size", type=_positive_int, default=64,
                   help="series per step, per process under torchrun")
    g.add_argument("--num_workers", type=_non_negative_int, default=0,
                   help="accepted for compatibility; batches are gathered in-process from one "
                        "array, which needs no worker processes")
    g.add_argument("--scaler", default="standard", choices=("standard", "minmax", "none"),
                   help="scaling fitted on the training rows")
    g.add_argument("--features", default="M", choices=("M", "S", "MS"),
                   help="M all channels, S the target only, MS all with the target last")
    g = p.add_argument_group("data: where the file is, which channels")
    g.add_argument("--root_path", default=None,
                   help="data directory (default: $TSVQ_DATA_DIR, else ~/.local/share/tsvq, "
                        "else for ETT the copy inside tsvq)")
    g.add_argument("--data_path", default=None, help="CSV file for --dset custom")
    g.add_argument("--target", default="OT", help="target column for S and MS")
    g.add_argument("--channel", type=_non_negative_int, default=None,
                   help="train on this channel index alone (default: every channel)")
    g = p.add_argument_group("model: encoder, codebook size, decoder")
    g.add_argument("--patch_size", type=_positive_int, default=16,
                   help="time steps per patch; each patch is encoded on its own")
    g.add_argument("--embedding_dim", type=_positive_int, default=32,
                   help="length of each codebook vector")
    g.add_argument("--num_embeddings", type=_positive_int, default=256,
                   help="codebook size: the number of distinct tokens")
    g.add_argument("--compression_factor", type=_positive_int, default=4,
                   help="time steps per token: 4, 8, 12 or 16 (any 4 x 2^a x 3^b dividing "
                        "patch_size)")
    g.add_argument("--block_hidden_size", type=_positive_int, default=64,
                   help="channels of the encoder and decoder convolutions")
    g.add_argument("--num_residual_layers", type=_non_negative_int, default=2,
                   help="residual blocks in the encoder and in the decoder")
    g.add_argument("--res_hidden_size", type=_positive_int, default=32,
                   help="channels inside each residual block")
    g.add_argument("--commitment_cost", type=_non_negative_float, default=0.25,
                   help="weight of the loss term pulling encoder outputs towards their codes")
    g = p.add_argument_group("codebook: keeping every code in use")
    g.add_argument("--quantizer", default="ema", choices=QUANTIZERS,
                   help="ema: codebook as a moving average of its vectors; vq: learned by "
                        "gradient")
    g.add_argument("--codebook_init", default="kmeans", choices=CODEBOOK_INITS,
                   help="kmeans on the first batch's encoder outputs, or the original uniform")
    g.add_argument("--dead_code_restart", type=_non_negative_int, default=50,
                   help="every N steps re-seed codes unused since the last check (0: off)")
    g.add_argument("--dead_code_threshold", type=_non_negative_float, default=0.0,
                   help="a code counts as dead when used at most this fraction of an even "
                        "share since the last check (0: only unused codes)")
    g.add_argument("--ema_decay", type=_positive_float, default=0.99,
                   help="moving-average decay of the ema codebook, in (0, 1)")
    g.add_argument("--gradient", default="ste", choices=GRADIENTS,
                   help="gradient through the quantizer: ste (straight-through, the "
                        "original's), rotation (rotation trick, Fifty et al. 2024) or "
                        "rotation_unscaled (its rotation without the |q|/|z| rescaling)")
    g = p.add_argument_group("training: optimiser and precision")
    g.add_argument("--n_epochs", type=_positive_int, default=100, help="most epochs to train")
    g.add_argument("--lr", type=_positive_float, default=1e-4,
                   help="AdamW learning rate, decayed by a cosine to 1e-6")
    g.add_argument("--weight_decay", type=_non_negative_float, default=1e-4,
                   help="AdamW weight decay")
    g.add_argument("--revin", type=_flag01, default=1,
                   help="normalise each window and channel by its own mean and std (RevIN), "
                        "0 or 1")
    g.add_argument("--amp", type=_flag01, default=1,
                   help="mixed precision: bf16 (fp16 on GPUs without bf16), CPUs with bf16 too")
    g = p.add_argument_group("training: stopping, bounds, hardware, resuming")
    g.add_argument("--seed", type=_seed, default=2021,
                   help="seed of the weights, the codebook and the batch order, 0 to 2^32 - 1")
    g.add_argument("--patience", type=_positive_int, default=10,
                   help="early stopping after N epochs without a better validation loss")
    g.add_argument("--select_by", default="recon", choices=("recon", "loss"),
                   help="validation figure that picks the best model and drives early "
                        "stopping: recon, or the total loss as the original")
    g.add_argument("--max_steps_per_epoch", type=_positive_int, default=None,
                   help="bound the work per epoch for large data: N training batches of a "
                        "fresh random subset each epoch, and at most N validation batches of "
                        "one fixed random subset (default: no bound)")
    g.add_argument("--threads", type=_positive_int, default=None,
                   help="CPU threads (default: the cores other processes leave free, "
                        "re-checked every 2 s, at most PyTorch's default; OMP_NUM_THREADS "
                        "also fixes it)")
    add_device_arg(g)
    g.add_argument("--resume", action="store_true",
                   help="continue from {model_name}_last.pth in the output folder")
    g.add_argument("--log_dir", default=None,
                   help="also write TensorBoard event files (per-epoch scalars, code-usage "
                        "histograms) to LOG_DIR/{model_name}/; needs pip install "
                        "'tsvq[tensorboard]'")
    g.add_argument("--config", default=None, metavar="FILE",
                   help="repeat a run: take its flags from its .pth, _run.json or _config.json "
                        "(or a JSON object of train flags); flags on this command line override "
                        "them")
    g = p.add_argument_group("output: where the run is written")
    g.add_argument("--save_path", default="saved_models/vqvae_only/",
                   help="runs go to {save_path}/{dset}/")
    g.add_argument("--model_id", type=_non_negative_int, default=1,
                   help="integer in the model name, as the original (--model_id 01 names "
                        "..._model1)")


def cmd_train(args: argparse.Namespace) -> int:
    from .distributed import process_group
    from .train import pick_device

    # Under torchrun every process runs this; DDP keeps one model and process 0 alone prints
    # and writes. Outside torchrun the group is a no-op.
    with process_group(pick_device(args.device)):
        return _train(args)


def _train(args: argparse.Namespace) -> int:
    from . import data as data_mod
    from .checkpoint import RunPaths, check_name, model_name
    from .memory import check_fits
    from .model import VQVAE, ModelConfig, validate
    from .train import TrainConfig, amp_dtype, pick_device, train

    model_cfg = ModelConfig(
        context_points=args.context_points, patch_size=args.patch_size,
        embedding_dim=args.embedding_dim, num_embeddings=args.num_embeddings,
        compression_factor=args.compression_factor, block_hidden_size=args.block_hidden_size,
        num_residual_layers=args.num_residual_layers, res_hidden_size=args.res_hidden_size,
        commitment_cost=args.commitment_cost, revin=bool(args.revin), quantizer=args.quantizer,
        codebook_init=args.codebook_init, dead_code_restart=args.dead_code_restart,
        dead_code_threshold=args.dead_code_threshold,
        ema_decay=args.ema_decay, gradient=args.gradient, seed=args.seed,
    )
    _model_error(validate, model_cfg)
    if args.log_dir is not None:
        from .board import require

        require()  # before any work: one line naming the package to install
    if not 0 < args.ema_decay < 1:
        raise TsvqError(f"--ema_decay must be in (0, 1), got {args.ema_decay}")
    if args.dead_code_threshold >= 1:
        raise TsvqError(f"--dead_code_threshold must be in [0, 1), got {args.dead_code_threshold}")
    out_dir = Path(args.save_path) / check_name(args.dset, "--dset")
    for parent in (out_dir, *out_dir.parents):
        if parent.exists() and not parent.is_dir():
            raise TsvqError(f"--save_path: {parent} is a file, not a directory")
    spec = data_mod.DataSpec(
        dset=args.dset, root_path=args.root_path, data_path=args.data_path,
        context_points=args.context_points, scaler=args.scaler, features=args.features,
        target=args.target, channel=args.channel,
    )
    data = data_mod.load(spec)
    tcfg = TrainConfig(
        n_epochs=args.n_epochs, batch_size=args.batch_size, lr=args.lr,
        weight_decay=args.weight_decay, amp=bool(args.amp), patience=args.patience,
        select_by=args.select_by,
        seed=args.seed, max_steps_per_epoch=args.max_steps_per_epoch, threads=args.threads,
        device=args.device,
        resume=args.resume, log_dir=args.log_dir,
    )
    name = model_name(args.context_points, args.patch_size, args.embedding_dim,
                      args.compression_factor, args.num_embeddings, args.model_id)
    paths = RunPaths(out_dir, name)
    from .distributed import is_distributed, is_main, world_size, wrap_ddp

    say = print if is_main() else (lambda _msg: None)
    device = pick_device(args.device)
    dtype = amp_dtype(device, bool(args.amp))
    n_series = {s: data.n_windows(s) * data.n_channels for s in ("train", "val")}
    # before the model is built; a batch never holds more series than the data has
    check_fits(model_cfg, min(args.batch_size, n_series["train"]), str(device))
    batches = {s: -(-n // (args.batch_size * world_size())) for s, n in n_series.items()}
    if args.max_steps_per_epoch:
        batches = {s: min(b, args.max_steps_per_epoch) for s, b in batches.items()}
    # the original's information lines
    say(f"Using device: {device}")
    say(f"Number of channels: {data.n_channels} "
        f"({', '.join(data.columns[:8])}{', ...' if data.n_channels > 8 else ''}); windows "
        f"train {data.n_windows('train')}, val {data.n_windows('val')}, "
        f"test {data.n_windows('test')}")
    say(f"Train batches: {batches['train']}, Valid batches: {batches['val']}")
    say(f"Model parameters: {VQVAE(model_cfg).num_parameters():,}")
    say(f"AMP enabled: {dtype is not None}"
        + (f" ({str(dtype).removeprefix('torch.')})" if dtype is not None else ""))
    if is_distributed():
        say(f"Distributed: {world_size()} processes, batch {args.batch_size} each "
            f"({args.batch_size * world_size()} series per step)")
    flags = {k: v for k, v in vars(args).items() if k != "handler"}
    flags["dset_finetune"] = args.dset  # the original adds it before building its loaders
    result = train(data, model_cfg, tcfg, paths, flags, log=say,
                   wrap=wrap_ddp if is_distributed() else None)
    if result.best_epoch:  # the epoch --select_by chose, with both of its validation figures
        best = result.history[result.best_epoch - 1]
        chosen = "reconstruction loss" if args.select_by == "recon" else "loss"
        say(f"Best model: epoch {result.best_epoch}, validation loss {best['valid_loss']:.6f}, "
            f"reconstruction {best['valid_recon_loss']:.6f} (chosen by validation {chosen})")
    say(f"Model saved to: {paths.best}")
    return 0


def _model_error(fn: Callable, *a: object) -> None:
    try:
        fn(*a)
    except ValueError as exc:
        raise TsvqError(str(exc)) from None


# name -> (help, "module:add_args_function", "module:handler_function"); modules load lazily
COMMANDS: dict[str, tuple[str, str, str]] = {
    "train": ("train a VQ-VAE tokenizer (the specification's trainer)",
              "tsvq.cli:add_train_args", "tsvq.cli:cmd_train"),
    "eval": ("reconstruction error and codebook usage of a checkpoint over a split",
             "tsvq.evaluate:add_args", "tsvq.evaluate:run"),
    "plot": ("PNG plots: loss curves, reconstructions, code usage",
             "tsvq.plot:add_args", "tsvq.plot:run"),
    "data": ("list the benchmark datasets, or download them and verify their sha256",
             "tsvq.download:add_args", "tsvq.download:cmd_data"),
    "encode": ("encode a split of a dataset into codes (.npz) with a trained tokenizer",
               "tsvq.tokenize_cli:add_encode_args", "tsvq.tokenize_cli:cmd_encode"),
    "decode": ("decode a tokens file back into windows in original units (.npz)",
               "tsvq.tokenize_cli:add_decode_args", "tsvq.tokenize_cli:cmd_decode"),
    "export": ("export a checkpoint as a Hugging Face style folder (config.json, "
               "model.safetensors)",
               "tsvq.tokenize_cli:add_export_args", "tsvq.tokenize_cli:cmd_export"),
}


def _resolve(ref: str) -> Callable:
    module, _, attr = ref.partition(":")
    return getattr(importlib.import_module(module), attr)


# What each command reads and writes, shown under its --help.
READS_WRITES: dict[str, str] = {
    "train": "reads:  the --dset CSV from --root_path, else $TSVQ_DATA_DIR, else "
             "~/.local/share/tsvq,\n        else (ETT only) the copy inside tsvq\n"
             "writes: {save_path}/{dset}/{model_name}.pth (best), _last.pth (for --resume),\n"
             "        _history.csv (one row per epoch), _config.json;\n"
             "        with --log_dir, TensorBoard event files in {log_dir}/{model_name}/",
    "eval": "reads:  the checkpoint and the dataset it was trained on\n"
            "writes: nothing; prints a table (or --json) on stdout",
    "plot": "reads:  the checkpoint, its _history.csv and its dataset\n"
            "writes: loss_curves.png, reconstructions.png, code_usage.png into --out",
    "data": "reads:  the data directory; the network for download\n"
            "writes: verified CSV files into the data directory (download)",
    "encode": "reads:  a checkpoint or exported folder and a dataset split\n"
              "writes: --out, an .npz of codes and the statistics decode needs",
    "decode": "reads:  a checkpoint or exported folder and an .npz from tsvq encode\n"
              "writes: --out, an .npz of windows in original units",
    "export": "reads:  a checkpoint\n"
              "writes: the --out folder: config.json, model.safetensors, README.md",
}


def build_parser(only: str | None = "*") -> Parser:
    """The `tsvq` parser; `only` names the one command whose flags are added ("*": all, None:
    none). Adding a command's flags imports its module (torch for most), so `tsvq --help`,
    `tsvq --version` and a mistyped command add none and answer at once."""
    from . import __version__

    parser = Parser(prog="tsvq", description="VQ-VAE tokenizers for time series",
                    formatter_class=HelpFormatter)
    parser.add_argument("--version", action="version", version=f"tsvq {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser)
    for name, (help_text, add, handler) in COMMANDS.items():
        description = f"{help_text}\n\n{READS_WRITES[name]}" if name in READS_WRITES else help_text
        p = sub.add_parser(name, help=help_text, description=description,
                           formatter_class=HelpFormatter)
        if only in ("*", name):
            _resolve(add)(p)
        p.set_defaults(handler=handler)
    return parser


def _with_config(parser: Parser, argv: list[str], config: str) -> argparse.Namespace:
    """Parse again with the record's flags first, so the command line's own come later and win."""
    from .runconfig import config_tokens

    class RecordParser(Parser):  # a bad saved value names the file it came from
        def error(self, message: str) -> NoReturn:
            raise TsvqError(f"--config {config}: {message}")

    train = RecordParser(prog="tsvq train")
    add_train_args(train)
    tokens = config_tokens(config, train)
    train.parse_args(tokens)  # the saved values alone pass every check typed flags pass
    i = argv.index("train")
    return parser.parse_args([*argv[:i + 1], *tokens, *argv[i + 1:]])


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `tsvq` command; returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    command = next((a for a in argv if not a.startswith("-")), None)
    parser = build_parser(command if command in COMMANDS else None)
    args = parser.parse_args(argv)
    # warnings from numpy and torch are not the user's to read: tsvq checks what matters itself
    with command_signals(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            if getattr(args, "config", None):
                args = _with_config(parser, argv, args.config)
            flagrules.check(args.command, args, flagrules.given_options(build_parser(), argv))
            return _resolve(args.handler)(args)
        except TsvqError as exc:
            print(f"tsvq {args.command}: error: {exc}", file=sys.stderr)
            return getattr(exc, "exit_status", 2)
        except KeyboardInterrupt as exc:
            note = f": {exc}" if str(exc) else ""
            print(f"tsvq {args.command}: interrupted{note}", file=sys.stderr)
            return interrupted_status()
        except BrokenPipeError:
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            return 1


if __name__ == "__main__":
    sys.exit(main())
