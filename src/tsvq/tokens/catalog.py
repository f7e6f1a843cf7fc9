"""Tokenizers that ship inside tsvq: named `tsvq/<short>`, checked against a packaged manifest.

A shipped tokenizer is the folder `tsvq/tokens/shipped/<short>/`, holding exactly what
`Tokenizer.save_pretrained` (and `tsvq export`) writes: config.json, model.safetensors and its
README.md model card. `shipped/manifest.json` holds the sha256 of every one of those files, so an
installed file edited by a single byte is refused before it is read, and then the folder passes
the same door as any exported folder (`pretrained.from_folder`: schema, shapes, digest).

A name resolves in this order (`pretrained.read`): a shipped name first, then a local file or
folder, then a Hugging Face Hub repo id. The owner `tsvq/` is tsvq's own: a `tsvq/...` name that
is neither shipped nor a local path is refused in one line listing the shipped names, never
looked up on the Hub.

The listing (`tsvq pretrained`) reads each tokenizer's figures from its card's front matter,
never from code: `tsvq_data` (what it was trained on, in words), `tsvq_test_mse` and
`tsvq_baseline_mse` (its test MSE in RevIN space and the equal-bit k-means baseline's on the same
windows), `tsvq_test_on` (which test windows). `write_manifest` writes the manifest after the
folders are written (the training script's last step).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

from tsvq.checks import parse_json
from tsvq.errors import TsvqError, one_line
from tsvq.files import write_json

SHIPPED = Path(__file__).resolve().parent / "shipped"
MANIFEST = "manifest.json"
PREFIX = "tsvq/"  # the namespace of shipped names: never a Hub lookup
CARD = "README.md"
_SHORT = re.compile(r"^[a-z0-9][a-z0-9._-]*$")
_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_FRONT_LINE = re.compile(r"^(tsvq_\w+):\s*(.*?)\s*$")


def is_reserved(name: str) -> bool:
    """Whether `name` is in tsvq's own namespace (`tsvq/...`)."""
    return name.startswith(PREFIX)


def manifest(root: Path = SHIPPED) -> dict[str, dict[str, str]]:
    """short name -> {file name: sha256} of the shipped tokenizers ({} when none ship)."""
    path = root / MANIFEST
    if not path.is_file():
        return {}
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, ValueError) as exc:
        raise TsvqError(f"cannot read tsvq's manifest {path}: {one_line(exc)}") from None
    fields = parse_json(text, str(path))
    ok = isinstance(fields, dict) and all(
        isinstance(k, str)
        and _SHORT.match(k)
        and isinstance(v, dict)
        and v
        and all(isinstance(f, str) and isinstance(d, str) and _HEX64.match(d) for f, d in v.items())
        for k, v in fields.items()
    )
    if not ok:
        raise TsvqError(
            f"tsvq's manifest {path} is damaged: expected {{short name: {{file: sha256}}}}; "
            "reinstall tsvq"
        )
    return fields


def names(root: Path = SHIPPED) -> list[str]:
    """The shipped tokenizers' names, `tsvq/<short>`, sorted."""
    return [PREFIX + short for short in sorted(manifest(root))]


def is_shipped(name: str, root: Path = SHIPPED) -> bool:
    return is_reserved(name) and name[len(PREFIX) :] in manifest(root)


def not_shipped(name: str, root: Path = SHIPPED) -> TsvqError:
    """The one line for a `tsvq/...` name that does not ship (nor is a local path)."""
    shipped = names(root)
    return TsvqError(
        f"{name} is not a tokenizer shipped with tsvq: the shipped ones are "
        f"{', '.join(shipped) if shipped else 'none (this installation ships none)'} "
        "(`tsvq pretrained` lists them; names under tsvq/ are never looked up on the Hub)"
    )


def folder(name: str, root: Path = SHIPPED) -> Path:
    """The shipped folder of `name`, every file checked against the manifest's sha256."""
    table = manifest(root)
    short = name[len(PREFIX) :] if is_reserved(name) else name
    if short not in table:
        raise not_shipped(PREFIX + short, root)
    where = root / short
    expected = table[short]
    present = sorted(p.name for p in where.iterdir()) if where.is_dir() else []
    for file_name, digest in sorted(expected.items()):
        path = where / file_name
        if not path.is_file():
            raise TsvqError(
                f"{name}: {path} is missing from tsvq's installation (the manifest lists it); "
                "reinstall tsvq"
            )
        if sha256_of(path) != digest:
            raise TsvqError(
                f"{name}: {path} does not match its sha256 in tsvq's manifest ({root / MANIFEST}):"
                " it was edited or damaged after tsvq was installed; reinstall tsvq"
            )
    extra = [p for p in present if p not in expected]
    if extra:
        raise TsvqError(
            f"{name}: {where} holds file(s) tsvq did not ship ({', '.join(extra[:5])}); "
            "reinstall tsvq"
        )
    return where


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def write_manifest(root: Path = SHIPPED) -> Path:
    """Write `root/manifest.json`: the sha256 of every file of every tokenizer folder under
    `root` (a folder holding config.json). Run once the shipped folders are final."""
    table = {
        d.name: {f.name: sha256_of(f) for f in sorted(d.iterdir()) if f.is_file()}
        for d in sorted(root.iterdir())
        if d.is_dir() and (d / "config.json").is_file()
    }
    bad = [short for short in table if not _SHORT.match(short)]
    if bad:
        raise TsvqError(f"shipped folder name(s) {', '.join(bad)}: use a-z, 0-9, '.', '_', '-'")
    write_json(root / MANIFEST, table)
    return root / MANIFEST


# ---- the model card's figures ----------------------------------------------------------------


@dataclass(frozen=True)
class CardFigures:
    """What `tsvq pretrained` reads from a card's front matter (None: the card does not say)."""

    data: str | None
    test_mse: float | None
    baseline_mse: float | None
    test_on: str | None


def card_figures(card: Path) -> CardFigures:
    """The `tsvq_*` keys of `card`'s YAML front matter (flat `key: value` lines)."""
    try:
        text = card.read_text(encoding="utf-8")
    except (OSError, ValueError):
        return CardFigures(None, None, None, None)
    found: dict[str, str] = {}
    lines = text.splitlines()
    if lines and lines[0].strip() == "---":
        for line in lines[1:]:
            if line.strip() == "---":
                break
            m = _FRONT_LINE.match(line)
            if m:
                found[m.group(1)] = m.group(2).strip("\"'")
    return CardFigures(
        found.get("tsvq_data") or None,
        _number(found.get("tsvq_test_mse")),
        _number(found.get("tsvq_baseline_mse")),
        found.get("tsvq_test_on") or None,
    )


def _number(text: str | None) -> float | None:
    try:
        value = float(text) if text else None
    except ValueError:
        return None
    return value if value is not None and value == value and abs(value) != float("inf") else None
