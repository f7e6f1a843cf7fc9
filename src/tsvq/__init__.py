"""tsvq: VQ-VAE tokenizers for time series."""

__version__ = "0.1.0"
