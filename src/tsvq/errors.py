"""The errors a user is meant to read: the command line prints each as one line (`one_line`),
exit status 2 for bad input, 1 for a run that failed, 130/143 for an interrupted one."""

from __future__ import annotations

from pathlib import Path


class TsvqError(ValueError):
    """Bad input a user can act on: says what was wrong, the value given, and what is allowed."""


class ConfigError(TsvqError):
    """A configuration value out of range; `field` names it (the flag of the same name)."""

    def __init__(self, field: str | None, message: str) -> None:
        super().__init__(message)
        self.field = field


class WriteFailed(TsvqError):
    """A file could not be written (disk full, a size limit, permissions): the run failed."""

    exit_status = 1


def one_line(exc: BaseException, limit: int = 300) -> str:
    """The gist of an exception in one line: its first line (a heading ending in ':' keeps its
    first item), at most `limit` characters; the type's name when it says nothing."""
    lines = [line.strip() for line in str(exc).strip().splitlines() if line.strip()]
    if not lines:
        return type(exc).__name__
    head = f"{lines[0]} {lines[1]}" if lines[0].endswith(":") and len(lines) > 1 else lines[0]
    return head[:limit]


class TrainingDiverged(TsvqError):
    """A NaN or inf loss: training stops, the last good checkpoint stays as it was."""

    exit_status = 1  # the run failed; not a usage error

    def __init__(
        self,
        epoch: int,
        train_loss: float,
        val_loss: float,
        best: Path,
        last: Path,
        best_epoch: int,
        saved_epoch: int | None,
        lr: float,
    ) -> None:
        kept = (
            f"the best model (epoch {best_epoch}) stays in {best}"
            if best_epoch
            else "no model had been saved"
        )
        if saved_epoch is not None:
            kept += f", the state after epoch {saved_epoch} in {last}"
        super().__init__(
            f"loss became NaN or inf in epoch {epoch} (train {train_loss:.6g}, valid "
            f"{val_loss:.6g}); training stopped; {kept}; try a lower --lr (was {lr:g}) or "
            "check the data for extreme values"
        )


class TrainingInterrupted(KeyboardInterrupt):
    """Ctrl-C during training; says which epoch's state `--resume` would continue from."""

    def __init__(self, last: Path, saved_epoch: int | None) -> None:
        if saved_epoch is None:
            note = "no epoch had finished, nothing to resume from"
        else:
            note = (
                f"the state after epoch {saved_epoch} is saved in {last}; "
                "continue with the same flags and --resume"
            )
        super().__init__(f"training stopped; {note}")
