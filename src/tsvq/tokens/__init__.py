"""Tokens in use: the Tokenizer (encode/decode), its folder and Hub I/O, inputs, gaps, units,
tokens files."""
