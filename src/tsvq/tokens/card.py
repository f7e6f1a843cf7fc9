"""README.md of an exported folder (the model card): what the tokenizer is, what it was trained
on (the dataset, or a user's file by name and digest, its columns and how it was read), its
test figures beside the baselines when they were measured, and how to load it."""

from __future__ import annotations

from pathlib import Path

from tsvq.data.record import DataRecord
from tsvq.data.registry import CUSTOM
from tsvq.model.vqvae import ModelConfig
from tsvq.run.record import RunInfo
from tsvq.tokens.channels import describe_columns


def trained_on(data: DataRecord) -> str:
    """The data in words: `etth1 (HUFL, ...; features M)`, or a user's file by name."""
    spec = data.spec
    columns = describe_columns(list(data.columns))
    if spec.dset != CUSTOM:
        text = f"{spec.dset} ({columns}; features {spec.features}"
        return text + (f", channel {spec.channel})" if spec.channel is not None else ")")
    where = f"the file `{Path(spec.data_path).name}`" if spec.data_path else "data given in memory"
    digest = f", sha256 {data.sha256[:16]}..." if data.sha256 else ""
    how = [
        f"{flag} {value}"
        for flag, value in (
            ("--id_column", spec.id_column),
            ("--timestamp_column", spec.timestamp_column),
            ("--columns", ",".join(spec.value_columns) if spec.value_columns else None),
            ("--exclude", ",".join(spec.exclude_columns) if spec.exclude_columns else None),
            ("--missing", spec.missing if spec.missing != "error" else None),
        )
        if value
    ]
    read = f"; read with {' '.join(how)}" if how else ""
    return f"{where} (custom{digest}; columns {columns}{read})"


def model_card(
    cfg: ModelConfig,
    data: DataRecord,
    run: RunInfo,
    fingerprint: str,
    figures: str | None = None,
    trained: str | None = None,
) -> str:
    """README.md of an exported folder; `figures`: its test figures in words (None: not
    measured); `trained`: what it was trained on in words (None: `trained_on(data)`, which
    sees a pool of series given in memory as one custom dataset)."""
    spec = data.spec
    trained = trained or trained_on(data)
    return "\n".join(
        [
            "---",
            "library_name: tsvq",
            "tags:",
            "- time-series",
            "- tokenizer",
            "- vq-vae",
            "---",
            "",
            "# tsvq tokenizer",
            "",
            f"A VQ-VAE tokenizer for time series trained with tsvq on {trained}"
            + (f", best epoch {run.epoch + 1}." if run.epoch is not None else "."),
            "",
            f"- windows of {cfg.context_points} steps (any multiple of {cfg.patch_size} encodes), "
            f"patches of {cfg.patch_size}, one token per {cfg.compression_factor} steps",
            f"- {cfg.num_embeddings} codes of dimension {cfg.embedding_dim}; RevIN "
            f"{'on' if cfg.revin else 'off'}; scaler {spec.scaler}",
            f"- fingerprint {fingerprint} (tokens files name the tokenizer that wrote them)",
            f"- test split: {figures}" if figures else "- test figures: not measured at export",
            "",
            "```python",
            "from tsvq import Tokenizer",
            "",
            'tok = Tokenizer.from_pretrained("THIS_FOLDER_OR_REPO")',
            "enc = tok.encode(x)      # x: [B, T, C] in original units -> enc.codes [B, C, T / "
            f"{cfg.compression_factor}]",
            "x_hat = tok.decode(enc)  # back to [B, T, C] in original units",
            "```",
            "",
            "`config.json` holds the model's configuration and the training data's description "
            "(channels, scaler); `model.safetensors` the weights.",
            "",
        ]
    )
