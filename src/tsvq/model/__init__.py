"""The model layer: TOTEM's VQ-VAE function, the quantizer, patch convolutions, RevIN, and the
memory estimate. It knows nothing of files, splits or flags."""
