"""Progress bars where a person watches (a terminal, a notebook), never in a log file."""

from __future__ import annotations

import sys

from tqdm.auto import tqdm  # a widget in Jupyter, text on a terminal

__all__ = ["show_progress", "tqdm"]


def show_progress() -> bool:
    """True on an interactive terminal or in a Jupyter kernel; False when stderr is a file or
    a pipe (a log file, CI), so bars never fill logs with carriage returns."""
    return sys.stderr.isatty() or in_notebook()


def in_notebook() -> bool:
    """Whether this process is a Jupyter (IPython) kernel."""
    ipython = sys.modules.get("IPython")
    if ipython is None:
        return False
    try:
        shell = ipython.get_ipython()
    except AttributeError:
        return False
    return shell is not None and "IPKernelApp" in getattr(shell, "config", {})
