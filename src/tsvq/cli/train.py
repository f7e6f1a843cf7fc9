"""`tsvq train`: the specification's trainer on the command line (`train.train` does the work)."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from tsvq.cli.flags import (
    add_device_arg,
    flag01,
    from_flags,
    non_negative_float,
    non_negative_int,
    positive_float,
    positive_int,
    seed,
)
from tsvq.errors import TsvqError
from tsvq.files import check_outputs

if TYPE_CHECKING:  # these import torch: loaded only when the command runs
    from tsvq.config import TrainConfig
    from tsvq.data.collection import SeriesCollection
    from tsvq.data.windows import SeriesData
    from tsvq.model.vqvae import ModelConfig
    from tsvq.run.record import RunPaths


def add_args(p: argparse.ArgumentParser) -> None:
    """`tsvq train`'s flags: the specification's, with the same names and defaults, and tsvq's,
    in the groups `--help` shows."""
    for add in (
        _data_args,
        _source_args,
        _model_args,
        _codebook_args,
        _optimiser_args,
        _run_args,
        _output_args,
    ):
        add(p)


def _data_args(p: argparse.ArgumentParser) -> None:
    from tsvq.data.registry import DATASET_NAMES
    from tsvq.data.windows import FEATURES, SCALERS

    g = p.add_argument_group("data: which series, cut into windows how")
    g.add_argument(
        "--dset",
        default="ettm1",
        choices=DATASET_NAMES,
        help="benchmark dataset, or custom with --data_path",
    )
    g.add_argument(
        "--context_points", type=positive_int, default=512, help="window length in time steps"
    )
    g.add_argument(
        "--batch_size",
        type=positive_int,
        default=64,
        help="series per step, per process under torchrun",
    )
    g.add_argument(
        "--num_workers",
        type=non_negative_int,
        default=0,
        help="accepted for compatibility; batches are gathered in-process from one "
        "array, which needs no worker processes",
    )
    g.add_argument(
        "--scaler", default="standard", choices=SCALERS, help="scaling fitted on the training rows"
    )
    g.add_argument(
        "--features",
        default="M",
        choices=FEATURES,
        help="M all channels, S the target only, MS all with the target last",
    )


def _source_args(p: argparse.ArgumentParser) -> None:
    from tsvq.data.gaps import MISSING

    g = p.add_argument_group("data: where the file is, which channels")
    g.add_argument(
        "--root_path",
        default=None,
        help="data directory (default: $TSVQ_DATA_DIR, else ~/.local/share/tsvq, "
        "else for ETT the copy inside tsvq)",
    )
    g.add_argument(
        "--data_path",
        default=None,
        help="CSV or Parquet file for --dset custom (a date column, if any, then numbers)",
    )
    g.add_argument(
        "--columns",
        default=None,
        help="comma-separated value columns of a custom file to train on (default: every "
        "column but the id and time)",
    )
    g.add_argument(
        "--exclude",
        default=None,
        help="comma-separated columns of a custom file to leave out (a label, say)",
    )
    g.add_argument(
        "--id_column",
        default=None,
        help="a long-format custom file: the column naming each row's series (one series "
        "per id, rows in time order within each)",
    )
    g.add_argument(
        "--timestamp_column",
        default=None,
        help="a custom file's time column (default: a first column of dates, else one "
        "called timestamp, ds or date; none: rows are numbered)",
    )
    g.add_argument(
        "--missing",
        default="error",
        choices=MISSING,
        help="blank, NaN or inf cells of a custom file: refuse them (error), or fill them "
        "linearly along time and leave the filled values out of the reconstruction loss "
        "(interpolate)",
    )
    g.add_argument("--target", default="OT", help="target column for S and MS")
    g.add_argument(
        "--channel",
        type=non_negative_int,
        default=None,
        help="train on this channel index alone (default: every channel)",
    )


def _model_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("model: encoder, codebook size, decoder")
    g.add_argument(
        "--patch_size",
        type=positive_int,
        default=16,
        help="time steps per patch; each patch is encoded on its own",
    )
    g.add_argument(
        "--embedding_dim", type=positive_int, default=32, help="length of each codebook vector"
    )
    g.add_argument(
        "--num_embeddings",
        type=positive_int,
        default=256,
        help="codebook size: the number of distinct tokens",
    )
    g.add_argument(
        "--compression_factor",
        type=positive_int,
        default=4,
        help="time steps per token: 4, 8, 12 or 16 (any 4 x 2^a x 3^b dividing patch_size)",
    )
    g.add_argument(
        "--block_hidden_size",
        type=positive_int,
        default=64,
        help="channels of the encoder and decoder convolutions",
    )
    g.add_argument(
        "--num_residual_layers",
        type=non_negative_int,
        default=2,
        help="residual blocks in the encoder and in the decoder",
    )
    g.add_argument(
        "--res_hidden_size",
        type=positive_int,
        default=32,
        help="channels inside each residual block",
    )
    g.add_argument(
        "--commitment_cost",
        type=non_negative_float,
        default=0.25,
        help="weight of the loss term pulling encoder outputs towards their codes",
    )


def _codebook_args(p: argparse.ArgumentParser) -> None:
    from tsvq.model.quantizer import CODEBOOK_INITS, GRADIENTS, QUANTIZERS

    g = p.add_argument_group("codebook: keeping every code in use")
    g.add_argument(
        "--quantizer",
        default="ema",
        choices=QUANTIZERS,
        help="ema: codebook as a moving average of its vectors; vq: learned by gradient",
    )
    g.add_argument(
        "--codebook_init",
        default="kmeans",
        choices=CODEBOOK_INITS,
        help="kmeans on the encoder outputs of a random sample of training series "
        "before the first step (under --init TOKENIZER: refit its codebook so), or the "
        "original uniform (under --init: its codebook as it is)",
    )
    g.add_argument(
        "--dead_code_restart",
        type=non_negative_int,
        default=50,
        help="every N steps re-seed codes unused since the last check (0: off)",
    )
    g.add_argument(
        "--dead_code_threshold",
        type=non_negative_float,
        default=0.0,
        help="a code counts as dead when used at most this fraction of an even "
        "share since the last check (0: only unused codes)",
    )
    g.add_argument(
        "--ema_decay",
        type=positive_float,
        default=0.99,
        help="moving-average decay of the ema codebook, in (0, 1)",
    )
    g.add_argument(
        "--gradient",
        default="balanced",
        choices=GRADIENTS,
        help="gradient through the quantizer: ste (straight-through, the "
        "original's), balanced (straight-through, and the commitment pulls each encoder "
        "output towards its code with the reconstruction's weight; logged losses "
        "unchanged), rotation (rotation trick, Fifty et al. 2024) or "
        "rotation_unscaled (its rotation without the |q|/|z| rescaling)",
    )


def _optimiser_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("training: optimiser and precision")
    g.add_argument("--n_epochs", type=positive_int, default=100, help="most epochs to train")
    g.add_argument(
        "--lr",
        type=positive_float,
        default=1e-4,
        help="AdamW learning rate, decayed by a cosine to 1e-6",
    )
    g.add_argument(
        "--weight_decay", type=non_negative_float, default=1e-4, help="AdamW weight decay"
    )
    g.add_argument(
        "--revin",
        type=flag01,
        default=1,
        help="normalise each window and channel by its own mean and std (RevIN), 0 or 1",
    )
    g.add_argument(
        "--amp",
        type=flag01,
        default=1,
        help="mixed precision: bf16 (fp16 on GPUs without bf16), CPUs with bf16 too",
    )


def _run_args(p: argparse.ArgumentParser) -> None:
    from tsvq.config import COMPILE_CHOICES, INITS, SELECT_BY

    g = p.add_argument_group("training: stopping, bounds, hardware, resuming")
    g.add_argument(
        "--seed",
        type=seed,
        default=2021,
        help="seed of the weights, the codebook and the batch order, 0 to 2^32 - 1",
    )
    g.add_argument(
        "--init",
        default="segments",
        metavar="{" + ",".join(INITS) + ",TOKENIZER}",
        help="how a new run's network starts: segments (encoder and decoder pass each "
        "token's compression_factor steps through unchanged, so training starts at the "
        "quality of k-means on raw segments; random where the widths cannot hold them), "
        "random (PyTorch's initialisation, the original's), or a trained tokenizer to "
        "fine-tune: its weights and codebook (tsvq/ett, a .pth or an exported folder, a Hub "
        "repo id; its shapes must be this run's, the record names it and its fingerprint)",
    )
    g.add_argument(
        "--patience",
        type=positive_int,
        default=10,
        help="early stopping after N epochs without a better validation loss",
    )
    g.add_argument(
        "--select_by",
        default="recon",
        choices=SELECT_BY,
        help="validation figure that picks the best model and drives early "
        "stopping: recon, or the total loss as the original",
    )
    g.add_argument(
        "--max_steps_per_epoch",
        type=positive_int,
        default=None,
        help="bound the work per epoch for large data: N training batches of a "
        "fresh random subset each epoch, and at most N validation batches of "
        "one fixed random subset (default: no bound)",
    )
    g.add_argument(
        "--threads",
        type=positive_int,
        default=None,
        help="CPU threads (default: the cores other processes leave free, "
        "re-checked every 2 s, at most PyTorch's default; OMP_NUM_THREADS "
        "also fixes it)",
    )
    add_device_arg(g)
    g.add_argument(
        "--compile",
        default="auto",
        choices=COMPILE_CHOICES,
        help="compile the training and validation steps (torch.compile): auto when the run's "
        "steps times the time compiling saves per step exceed the compile cost (timed on "
        "the first steps, one line says why; where the compiled steps then prove no faster, "
        "training goes back to eager, in one line), 1 always, 0 never",
    )
    g.add_argument(
        "--resume",
        action="store_true",
        help="continue from {model_name}_last.pth in the output folder",
    )
    g.add_argument(
        "--log_dir",
        default=None,
        help="also write TensorBoard event files (per-epoch scalars, code-usage "
        "histograms) to LOG_DIR/{model_name}/; needs pip install "
        "'tsvq[tensorboard]'",
    )
    g.add_argument(
        "--config",
        default=None,
        metavar="FILE",
        help="repeat a run: take its flags from its .pth, _run.json or _config.json "
        "(or a JSON object of train flags); flags on this command line override "
        "them",
    )


def _output_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("output: where the run is written")
    g.add_argument(
        "--save_path",
        default="saved_models/vqvae_only/",
        help="runs go to {save_path}/{dset}/ ({save_path}/custom/{stem}/ for a custom FILE)",
    )
    g.add_argument(
        "--model_id",
        type=non_negative_int,
        default=1,
        help="integer in the model name, as the original (--model_id 01 names ..._model1)",
    )


def run(args: argparse.Namespace) -> int:
    from tsvq.runtime.device import pick_device
    from tsvq.runtime.distributed import process_group

    # Under torchrun every process runs this; DDP keeps one model and process 0 alone prints
    # and writes. Outside torchrun the group is a no-op.
    with process_group(pick_device(args.device)):
        return _train(args)


# flags that may differ between the processes of one distributed run: where each computes
PER_PROCESS = frozenset({"device", "threads", "config"})


def _train(args: argparse.Namespace) -> int:
    train_on(args)
    return 0


def train_on(
    args: argparse.Namespace, series: SeriesCollection | None = None, temporary: bool = False
) -> RunPaths:
    """`tsvq train` with parsed flags `args`, on the --data_path file, or on `series` (the
    Python entry point, `tsvq.fit`): one code path, the same files and run record. Returns
    where the run was written; `temporary`: in a folder removed afterwards (said so)."""
    from tsvq.cli.finetune import pretrained_start
    from tsvq.config import INITS, TrainConfig
    from tsvq.data import windows as data_mod
    from tsvq.data.registry import resolve_path
    from tsvq.model.vqvae import ModelConfig
    from tsvq.run.lock import lock_path
    from tsvq.runtime.distributed import agree, is_distributed, is_main, wrap_ddp
    from tsvq.train.loop import criterion, train

    model_cfg = from_flags(ModelConfig, args, revin=bool(args.revin))
    # a tokenizer to fine-tune: loaded and its shapes checked before the data is read
    start = None if args.init in INITS else pretrained_start(args.init, model_cfg)
    if args.log_dir is not None:
        from tsvq.train.board import require

        require()  # before any work: one line naming the package to install
    paths = _run_paths(args)
    recorded = getattr(args, "recorded_sha256", None)  # train --config: the record's data
    spec = from_flags(
        data_mod.DataSpec,
        args,
        value_columns=names_of(args.columns),
        exclude_columns=names_of(args.exclude) or (),
    )
    if series is None:
        data = data_mod.load(spec, recorded, hints=True)
        inputs = {"the data file": resolve_path(spec.dset, spec.root_path, spec.data_path)}
    else:
        data, inputs = data_mod.prepare(series, spec), {}
    check_outputs(
        inputs,
        [("--save_path", p) for p in (*paths.all(), lock_path(paths.directory, paths.name))],
    )
    init = {"init": "pretrained", "init_from": start.source} if start else {}
    fingerprint = {"init_fingerprint": start.fingerprint} if start else {}
    tcfg = from_flags(TrainConfig, args, amp=bool(args.amp), **init, **fingerprint)
    flags = {k: v for k, v in vars(args).items() if k not in ("handler", "recorded_sha256")}
    # under torchrun: every process was started alike, or all stop here, before any work
    agree({**{k: v for k, v in flags.items() if k not in PER_PROCESS}, "data sha256": data.sha256})
    say = print if is_main() else (lambda _msg: None)
    _information(args, data, model_cfg, tcfg, say)
    flags["dset_finetune"] = args.dset  # the original adds it before building its loaders
    if start is not None:
        say(f"Fine-tuning from {start.source} (tokenizer {start.fingerprint})")
    wrap = wrap_ddp if is_distributed() else None
    result = train(data, model_cfg, tcfg, paths, flags, say, wrap, start.state if start else None)
    if result.best_epoch:  # the epoch --select_by chose, with both of its validation figures
        best = result.history[result.best_epoch - 1]
        say(
            f"Best model: epoch {result.best_epoch}, validation loss {best['valid_loss']:.6f}, "
            f"reconstruction {best['valid_recon_loss']:.6f} (chosen by validation "
            f"{criterion(tcfg)})"
        )
    say(
        "Model trained in a temporary folder (give save_path= to keep its files)"
        if temporary and paths.best.is_file()
        else f"Model saved to: {paths.best}"
        if paths.best.is_file()
        else f"No model was saved: {paths.best} is not there"
    )
    return paths


def names_of(text: str | None) -> tuple[str, ...] | None:
    """`--columns a,b` -> ("a", "b"); None when not given."""
    return None if text is None else tuple(n.strip() for n in text.split(",") if n.strip())


def _run_paths(args: argparse.Namespace) -> RunPaths:
    """{save_path}/{dset}/{model_name}*, refused when a parent is a file; a custom file's run
    goes to {save_path}/custom/{stem}/vqvae_{stem}_cw..., so two files never collide."""
    from tsvq.data.registry import CUSTOM, data_stem
    from tsvq.run.record import RunPaths, check_name, model_name

    out_dir = Path(args.save_path) / check_name(args.dset, "--dset")
    stem = data_stem(args.data_path) if args.dset == CUSTOM and args.data_path else None
    if stem:
        out_dir = out_dir / check_name(stem, "the data file's name")
    for parent in (out_dir, *out_dir.parents):
        if parent.exists() and not parent.is_dir():
            raise TsvqError(f"--save_path: {parent} is a file, not a directory")
    return RunPaths(
        out_dir,
        model_name(
            args.context_points,
            args.patch_size,
            args.embedding_dim,
            args.compression_factor,
            args.num_embeddings,
            args.model_id,
            stem,
        ),
    )


def _information(
    args: argparse.Namespace,
    data: SeriesData,
    model_cfg: ModelConfig,
    tcfg: TrainConfig,
    say: Callable[[str], None],
) -> None:
    """Check that the model fits, then the original's information lines (and tsvq's)."""
    from tsvq.model.vqvae import VQVAE
    from tsvq.runtime.device import amp_dtype, pick_device
    from tsvq.runtime.distributed import is_distributed, world_size
    from tsvq.train.setup import fits

    device = pick_device(args.device)
    dtype = amp_dtype(device, tcfg.amp)
    fits(model_cfg, args.batch_size, data, device)  # before the model is built to count it
    n_series = {s: data.n_windows(s) * data.n_channels for s in ("train", "val")}
    batches = {s: -(-n // (args.batch_size * world_size())) for s, n in n_series.items()}
    if args.max_steps_per_epoch:
        batches = {s: min(b, args.max_steps_per_epoch) for s, b in batches.items()}
    say(f"Using device: {device}")
    say(
        f"Number of channels: {data.n_channels} "
        f"({', '.join(data.columns[:8])}{', ...' if data.n_channels > 8 else ''}); windows "
        f"train {data.n_windows('train')}, val {data.n_windows('val')}, "
        f"test {data.n_windows('test')}"
        + (f"; {data.n_series} series" if data.n_series > 1 else "")
        + (f" ({data.n_left_out} too short for a window, left out)" if data.n_left_out else "")
    )
    say(f"Train batches: {batches['train']}, Valid batches: {batches['val']}")
    say(f"Model parameters: {VQVAE(model_cfg).num_parameters():,}")
    say(
        f"AMP enabled: {dtype is not None}"
        + (f" ({str(dtype).removeprefix('torch.')})" if dtype is not None else "")
    )
    if is_distributed():
        say(
            f"Distributed: {world_size()} processes, batch {args.batch_size} each "
            f"({args.batch_size * world_size()} series per step)"
        )
