"""The command line layer: one module per command (`train`, `eval`, `plot`, `data`, `tokens` for
encode/decode/export), the shared flags and typed parsers (`flags`), the rules refusing flags
that would have no effect (`rules`) and `--config` (`runconfig`). Nothing below this package
imports argparse: the modules it calls take typed values."""

from tsvq.cli.main import COMMANDS, build_parser, main

__all__ = ["COMMANDS", "build_parser", "main"]
