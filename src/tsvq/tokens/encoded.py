"""`Encoded`: what `Tokenizer.encode` returns, and how it is saved as a tokens file."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tsvq.data.windows import Scaler
from tsvq.errors import TsvqError
from tsvq.tokens.writer import Origin, TokensWriter, header


@dataclass
class Encoded:
    """Codes of B windows and the statistics that map them back to original units.

    `mean` and `std` are the statistics each window was normalized with, in scaled units (after
    `scaler`): its own RevIN statistics, or those given to `encode`; a model trained without
    RevIN gives zeros and ones, for which undoing RevIN changes nothing. `mask` is True for
    tokens whose steps include a value tsvq made up: a gap filled by
    `encode(missing="interpolate")`, or padding (`encode(pad=...)`); None when there is none.
    """

    codes: np.ndarray  # [B, C, n_tokens] int64, n_tokens = T / compression_factor
    mean: np.ndarray  # [B, C] float32
    std: np.ndarray  # [B, C] float32
    scaler: Scaler  # x_scaled = (x - shift) / scale per channel (identity for foreign columns)
    mask: np.ndarray | None = None  # [B, C, n_tokens] bool: token touched a fill or padding
    columns: list[str] | None = None  # the channels' names
    length: int | None = None  # steps per window before padding (None: not padded)
    index: np.ndarray | None = None  # [B] the index label of each window's first step
    input_1d: bool = False  # encoded from a 1-D series: decode gives [T] back
    origin: Origin | None = None  # the tokenizer that made the codes (set by encode)

    def __len__(self) -> int:
        return self.codes.shape[0]

    def save(self, path: str | Path) -> Path:
        """Write a tokens file that `tsvq decode` (and `tsvq.tokens.npz.read_tokens`) reads.

        The file holds what `tsvq encode` writes (codes, statistics, scaler, names, the
        tokenizer's fingerprint, the mask if any), and `length` and `index` when this Encoded
        has them; `start` holds the window numbers 0..B-1. Written atomically.

        Parameters
        ----------
        path : str or Path
            The file to write (.npz).

        Returns
        -------
        Path

        Raises
        ------
        TsvqError
            An Encoded not made by `Tokenizer.encode` (it does not know its tokenizer), a path
            not ending in .npz (as `tsvq encode --out` refuses) or a directory, or a file that
            cannot be written.
        """
        out = Path(path)
        if out.is_dir() or out.suffix.lower() != ".npz":
            what = "a directory" if out.is_dir() else "not an .npz name"
            raise TsvqError(
                f"Encoded.save({str(path)!r}): {what}; a tokens file is a numpy .npz archive, "
                f"e.g. {out.with_suffix('.npz') if not out.is_dir() else out / 'tokens.npz'}"
            )
        if self.origin is None or self.columns is None:
            raise TsvqError(
                "this Encoded does not name the tokenizer that made it (only Tokenizer.encode "
                "and a tokens file's Encoded do); encode the windows again to save them"
            )
        n, c, k = self.codes.shape
        writer = TokensWriter(n, c, k, self.origin.num_embeddings, mask=self.mask is not None)
        try:
            writer.add(self.codes, self.mean, self.std, np.arange(n, dtype=np.int64), self.mask)
        except BaseException:
            writer.close()
            raise
        extra = {"length": self.length, "index": self.index}
        writer.finish(out, header(self.origin, self.columns, self.scaler, k, {}, extra))
        return out
