"""The training settings of a run (the model's are `model.ModelConfig`)."""

from __future__ import annotations

from dataclasses import dataclass

SELECT_BY = ("recon", "loss")


@dataclass
class TrainConfig:
    n_epochs: int = 100
    batch_size: int = 64
    lr: float = 1e-4
    weight_decay: float = 1e-4
    amp: bool = True
    patience: int = 10
    grad_clip: float = 1.0
    min_lr: float = 1e-6
    select_by: str = "recon"  # the validation figure that picks the best model and stops early
    seed: int = 2021
    max_steps_per_epoch: int | None = None
    threads: int | None = None  # CPU threads; None: the cores other processes leave free
    device: str = "auto"
    resume: bool = False
    log_dir: str | None = None  # TensorBoard event files under {log_dir}/{model_name}/
