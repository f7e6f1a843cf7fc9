"""A model's reconstruction beside its baselines, and what it means when it loses to them."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from tsvq.data.windows import SeriesData
from tsvq.model.vqvae import ModelConfig
from tsvq.report.baseline import Baseline, baseline

# dead codes above this share of the codebook are named as a likely cause
DEAD_SHARE = 0.25


@dataclass(frozen=True)
class Verdict:
    """The model's MSE against the equal-bit codebook and the window mean, on the same windows.

    `gain_percent` is how far the model's MSE lies below the codebook's (negative: above it);
    `worse_than` names the baselines the model does not beat, and `warning` says in words what
    that likely means (None when it beats both).
    """

    mse: float
    kmeans_mse: float
    window_mean_mse: float
    bits_per_value: float
    codebook_size: int
    segment: int
    revin: bool
    gain_percent: float
    worse_than: tuple[str, ...]
    warning: str | None
    fit_segments: int

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["worse_than"] = list(self.worse_than)
        del d["mse"]  # the report carries it already
        return d


def verdict(mse: float, base: Baseline, dead_codes: int, epoch: int | None = None) -> Verdict:
    """Compare a model's MSE with its baselines (`base`, scored on the same split).

    Parameters
    ----------
    mse
        The model's reconstruction MSE per element in its own space (RevIN or not).
    base
        The baselines of the same split, codebook size and compression factor.
    dead_codes
        Codes of the model's codebook never used on the split.
    epoch
        The checkpoint's epoch (1-based), when known: named in the warning.
    """
    worse = []
    if mse >= base.kmeans_mse:
        worse.append("kmeans")
    if mse >= base.window_mean_mse:
        worse.append("window_mean")
    return Verdict(
        mse=mse,
        kmeans_mse=base.kmeans_mse,
        window_mean_mse=base.window_mean_mse,
        bits_per_value=base.bits_per_value,
        codebook_size=base.codebook_size,
        segment=base.segment,
        revin=base.revin,
        gain_percent=100.0 * (1.0 - mse / base.kmeans_mse) if base.kmeans_mse > 0 else 0.0,
        worse_than=tuple(worse),
        warning=_warning(mse, base, worse, dead_codes, epoch),
        fit_segments=base.fit_segments,
    )


def _warning(
    mse: float, base: Baseline, worse: list[str], dead_codes: int, epoch: int | None
) -> str | None:
    if not worse:
        return None
    k, cf = base.codebook_size, base.segment
    if "window_mean" in worse:
        head = (
            f"the model reconstructs worse than predicting each window's mean (MSE {mse:.4g} "
            f"against {base.window_mean_mse:.4g}): its tokens carry nothing useful"
        )
    else:
        head = (
            f"the model reconstructs worse than k-means with {k} codes on raw {cf}-step "
            f"segments, which needs no network and spends the same {base.bits_per_value:.3g} "
            f"bits per value (MSE {mse:.4g} against {base.kmeans_mse:.4g})"
        )
    causes = [
        "too few training steps"
        + (f" (the checkpoint is epoch {epoch}'s)" if epoch is not None else "")
        + " or too small a learning rate: train longer, or with `--config fast`"
    ]
    if dead_codes > DEAD_SHARE * k:
        causes.append(f"dead codes ({dead_codes} of {k} never used on this split)")
    return f"{head}. Likely: {'; '.join(causes)}."


def against_baseline(
    cfg: ModelConfig,
    data: SeriesData,
    split: str,
    mse: float,
    dead_codes: int,
    epoch: int | None = None,
) -> Verdict:
    """Fit the baselines of a model's budget on `data`'s training split, score them on
    `split` (the windows the model was scored on) and compare them with the model's `mse`."""
    base = baseline(data, split, cfg.num_embeddings, cfg.compression_factor, cfg.revin)
    return verdict(mse, base, dead_codes, epoch)


def format_verdict(v: Verdict) -> str:
    """The lines `tsvq eval` prints under its table."""
    space = "RevIN space" if v.revin else "the model's space"
    lines = [
        f"baselines on the same windows ({space}, {v.bits_per_value:.3g} bits per value): "
        f"k-means with {v.codebook_size} codes on raw {v.segment}-step segments "
        f"{v.kmeans_mse:.6f}, each window's mean {v.window_mean_mse:.6f}",
        f"model against k-means: {abs(v.gain_percent):.1f}% "
        f"{'lower' if v.gain_percent > 0 else 'higher'} MSE",
    ]
    if v.warning:
        lines.append(f"WARNING: {v.warning}")
    return "\n".join(lines)
