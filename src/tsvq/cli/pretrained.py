"""`tsvq pretrained`: the tokenizers that ship inside tsvq, each loaded through its door.

Every figure comes from the tokenizer's own files: the shape from its config.json, the data and
the test figures beside the baseline from its model card's front matter (`catalog.card_figures`).
"""

from __future__ import annotations

import argparse
from dataclasses import asdict, dataclass

from tsvq.files import json_text


@dataclass(frozen=True)
class Listed:
    """One row of `tsvq pretrained` (its --json object)."""

    name: str
    data: str
    context_points: int
    compression_factor: int
    codebook_size: int
    embedding_dim: int
    revin: bool
    channels: int
    size_bytes: int
    test_mse: float | None
    baseline_mse: float | None
    test_on: str | None
    fingerprint: str


def add_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="print one JSON list")


def listed() -> list[Listed]:
    """The shipped tokenizers, each loaded (manifest, schema, shapes and digest checked)."""
    from tsvq.tokens import catalog
    from tsvq.tokens.channels import describe_columns
    from tsvq.tokens.tokenizer import Tokenizer

    rows = []
    for name in catalog.names():
        where = catalog.folder(name)
        tok = Tokenizer.from_pretrained(name)
        card = catalog.card_figures(where / catalog.CARD)
        c = tok.cfg
        own = f"{tok.data.spec.dset} ({describe_columns(tok.columns, 4)})"
        rows.append(
            Listed(
                name=name,
                data=card.data or own,
                context_points=c.context_points,
                compression_factor=c.compression_factor,
                codebook_size=c.num_embeddings,
                embedding_dim=c.embedding_dim,
                revin=c.revin,
                channels=tok.n_channels,
                size_bytes=sum(f.stat().st_size for f in where.iterdir() if f.is_file()),
                test_mse=card.test_mse,
                baseline_mse=card.baseline_mse,
                test_on=card.test_on,
                fingerprint=str(tok.fingerprint),
            )
        )
    return rows


def format_rows(rows: list[Listed]) -> str:
    """The table `tsvq pretrained` prints."""
    if not rows:
        return "no tokenizers ship with this installation of tsvq"
    head = f"{'name':<18}{'T':>6}{'factor':>8}{'K':>6}{'size':>9}{'test mse':>11}{'k-means':>10}"
    lines = [head]
    for r in rows:
        figures = [f"{v:>11.4f}" if v is not None else f"{'-':>11}" for v in (r.test_mse,)]
        figures += [f"{v:>10.4f}" if v is not None else f"{'-':>10}" for v in (r.baseline_mse,)]
        lines.append(
            f"{r.name:<18}{r.context_points:>6}{r.compression_factor:>8}{r.codebook_size:>6}"
            f"{r.size_bytes / 1024:>7.0f}KB{''.join(figures)}"
        )
        lines.append(f"  data: {r.data}")
        if r.test_on:
            lines.append(f"  test: {r.test_on}")
    lines.append(
        "(test mse: per element in RevIN space, from each model card; k-means: the equal-bit "
        "codebook without a network on the same windows; T: the training window, any multiple "
        "of the patch encodes. Load one with Tokenizer.from_pretrained(NAME) or --checkpoint "
        "NAME; offline, checked against tsvq's manifest)"
    )
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    rows = listed()
    print(json_text([asdict(r) for r in rows]) if args.json else format_rows(rows))
    return 0
