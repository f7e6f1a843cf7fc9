"""The data layer: the dataset registry, CSV reading, splits, scalers, windows and downloads.
It knows nothing of the model."""
