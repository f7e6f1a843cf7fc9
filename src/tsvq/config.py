"""The training settings of a run (the model's are `model.ModelConfig`) and the choices they
share with the command line."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Literal, get_args

from tsvq.checks import Bound, Positive, check_fields

SelectBy = Literal["recon", "loss"]
SELECT_BY = get_args(SelectBy)
# how a new run's network starts: as the raw-segment codebook (model.segment_start), PyTorch's
# random initialisation (the original's), or a trained tokenizer's weights and codebook
# (`--init tsvq/ett|PATH`: `pretrained`, its source and fingerprint in `init_from`)
Init = Literal["segments", "random", "pretrained"]
INITS = ("segments", "random")  # the --init words; any other value names a tokenizer
Fingerprint = Annotated[str | None, Bound("a tokenizer's fingerprint or None")]
# --compile: auto compiles the training and validation steps when it pays (train.compiled)
CompileChoice = Literal["auto", "0", "1"]
COMPILE_CHOICES = get_args(CompileChoice)
DEVICES = ("auto", "cpu", "cuda")  # --device: auto picks CUDA when there is a GPU
# torch.manual_seed takes up to 2^64 - 1, but the quantizer derives seeds from it
# (seed * 1_000_003 + ...): 2^32 - 1, numpy's classic bound, keeps every derived seed in range.
MAX_SEED = 2**32 - 1
Seed = Annotated[int, Bound(f"an integer from 0 to {MAX_SEED}", lambda v: 0 <= v <= MAX_SEED)]
Rate = Annotated[float, Bound("a finite number > 0", lambda v: v > 0)]
Decay = Annotated[float, Bound("a finite number >= 0", lambda v: v >= 0)]
MaybePositive = Annotated[
    int | None, Bound("a positive integer or None", lambda v: v is None or v >= 1)
]


@dataclass
class TrainConfig:
    n_epochs: Positive = 100
    batch_size: Positive = 64
    lr: Rate = 1e-4
    weight_decay: Decay = 1e-4
    amp: bool = True
    patience: Positive = 10
    grad_clip: Rate = 1.0
    min_lr: Decay = 1e-6
    select_by: SelectBy = "recon"  # the validation figure that picks the best model, stops early
    init: Init = "segments"
    # under init="pretrained": the tokenizer started from, as named (tsvq/ett, a path), and
    # its fingerprint (`Tokenizer.fingerprint`)
    init_from: Annotated[str | None, Bound("a tokenizer's name or path, or None")] = None
    init_fingerprint: Fingerprint = None
    seed: Seed = 2021
    max_steps_per_epoch: MaybePositive = None
    threads: MaybePositive = None  # CPU threads; None: the cores other processes leave free
    # one of DEVICES, or a torch device such as "cuda:1"
    device: Annotated[
        str, Bound(f"one of {', '.join(DEVICES)} or a torch device name", lambda v: bool(v))
    ] = "auto"
    compile: CompileChoice = "auto"
    resume: bool = False
    # TensorBoard event files under {log_dir}/{model_name}/
    log_dir: Annotated[str | None, Bound("a folder name or None")] = None

    def __post_init__(self) -> None:
        check_fields(self)
