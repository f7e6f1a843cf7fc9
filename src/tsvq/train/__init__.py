"""The training loop, its history file and TensorBoard logging."""
