"""The specification's interface: `python vqvae_train.py <flags>` is `tsvq train <flags>`."""

import os
import sys

try:
    from tsvq.cli import main
except ImportError:  # run from a checkout without installing
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "src"))
    from tsvq.cli import main

if __name__ == "__main__":
    sys.exit(main(["train", *sys.argv[1:]]))
