"""How a command meets signals: SIGTERM stops it as Ctrl-C does, a file-size limit is an error.

Schedulers and `docker stop` send SIGTERM; it raises `KeyboardInterrupt` in the main thread,
so a training run saves nothing half-done and says which epoch `--resume` continues from, and
the command exits with 143 (128 + SIGTERM) instead of 130. SIGXFSZ (a write past
`ulimit -f`) would kill the process with a core dump; ignored, the write fails with EFBIG
and the command reports it in one line.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from types import FrameType

_received: list[int] = []


def interrupted_status() -> int:
    """Exit status after a `KeyboardInterrupt`: 143 when SIGTERM caused it, else 130."""
    return 128 + signal.SIGTERM if signal.SIGTERM in _received else 130


@contextlib.contextmanager
def command_signals() -> Iterator[None]:
    """Within the block, SIGTERM raises `KeyboardInterrupt` (once) and SIGXFSZ is ignored."""
    if threading.current_thread() is not threading.main_thread():
        yield  # signal handlers can only be set from the main thread
        return
    _received.clear()

    def on_term(signum: int, frame: FrameType | None) -> None:
        if signum in _received:
            return  # a second SIGTERM while the first is being handled: finish cleaning up
        _received.append(signum)
        raise KeyboardInterrupt

    old_term = signal.signal(signal.SIGTERM, on_term)
    old_xfsz = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, old_term)
        signal.signal(signal.SIGXFSZ, old_xfsz)
