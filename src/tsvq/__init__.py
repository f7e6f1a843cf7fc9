"""tsvq: VQ-VAE tokenizers for time series."""

from __future__ import annotations

from typing import Any

__version__ = "0.2.0"  # the one place the version is set (pyproject.toml reads it)
__all__ = ["Encoded", "Scaler", "Tokenizer", "TsvqError", "__version__", "fit"]


def __getattr__(name: str) -> Any:
    # Lazy: `import tsvq` (and the command line) stays fast; torch loads on first use.
    if name in ("Tokenizer", "Encoded"):
        from tsvq.tokens import tokenizer

        return getattr(tokenizer, name)
    if name == "fit":  # train a tokenizer from Python: `tsvq train` on the series given
        from tsvq.cli.fit import fit

        return fit
    if name == "Scaler":  # to give columns a tokenizer does not know their own scaling
        from tsvq.data.windows import Scaler

        return Scaler
    if name == "TsvqError":  # every refusal tsvq makes is one: `except tsvq.TsvqError`
        from tsvq.errors import TsvqError

        return TsvqError
    raise AttributeError(f"module 'tsvq' has no attribute {name!r}")
