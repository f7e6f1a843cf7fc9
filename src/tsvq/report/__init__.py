"""Reports over a Tokenizer: evaluation tables and plots."""
