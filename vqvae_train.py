"""The specification's interface: `python vqvae_train.py <flags>` is `tsvq train <flags>`."""

import importlib.util
import os
import sys

if __name__ == "__main__":
    prog = os.path.basename(sys.argv[0])
    missing = [m for m in ("torch", "numpy", "pandas") if importlib.util.find_spec(m) is None]
    if missing:  # this interpreter is not the one tsvq was installed into
        print(
            f"{prog}: error: {', '.join(missing)} not installed for {sys.executable}; install "
            "tsvq (README: Install) or run this script with the interpreter that has it "
            "(bash vqvae_train.sh finds ./.venv/bin/python itself)",
            file=sys.stderr,
        )
        sys.exit(2)
    try:
        from tsvq.cli import main
    except ImportError:  # run from a checkout without installing
        sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "src"))
        from tsvq.cli import main
    sys.exit(main(["train", *sys.argv[1:]], prog=prog))
