"""How a command meets signals: SIGTERM stops it as Ctrl-C does, a file-size limit is an error.

Schedulers and `docker stop` send SIGTERM; it raises `KeyboardInterrupt` in the main thread,
so a training run saves nothing half-done and says which epoch `--resume` continues from, and
the command exits with 143 (128 + SIGTERM) instead of 130. SIGXFSZ (a write past
`ulimit -f`) would kill the process with a core dump; ignored, the write fails with EFBIG
and the command reports it in one line.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import sys
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


@contextlib.contextmanager
def deferred() -> Iterator[None]:
    """Within the block, Ctrl-C and SIGTERM wait for it to finish, then act as they would have.

    For a step that must not be cut in two: a file renamed into place and the record that it is
    there (the interrupted line then says what is on disk). A signal arriving inside the block
    is held, the handlers in force before the block are restored, and the first held signal is
    handed to its handler (raising `KeyboardInterrupt` for Ctrl-C and, under `command_signals`,
    SIGTERM); an exception raised by the block itself takes precedence.
    """
    if threading.current_thread() is not threading.main_thread():
        yield  # signal handlers can only be set from the main thread
        return
    held: list[int] = []

    def hold(signum: int, frame: FrameType | None) -> None:
        held.append(signum)

    before = {s: signal.signal(s, hold) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for signum, handler in before.items():
            signal.signal(signum, handler)
    if held:
        handler = before[signal.Signals(held[0])]
        if callable(handler):
            handler(held[0], None)
        elif handler == signal.SIG_DFL:
            os.kill(os.getpid(), held[0])  # the default action, now that it is restored


@contextlib.contextmanager
def stop_within(grace: float, command: str, where: str) -> Iterator[None]:
    """Within the block, SIGTERM or SIGINT ends the process at most `grace` seconds later.

    Python runs a signal's handler only between bytecodes of the main thread, so a process
    blocked in C++ code (a collective waiting for a peer that never comes) would ignore it. A
    watchdog thread sees the signal as it arrives (`signal.set_wakeup_fd`); if the process is
    still inside the block `grace` seconds later, it says so in one line (`command`: the
    command's name, `where`: what it was doing) and exits with 128 + the signal.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    read, write = os.pipe()
    os.set_blocking(write, False)
    old = signal.set_wakeup_fd(write)
    done = threading.Event()

    def watch() -> None:
        while not done.is_set():
            if not select.select([read], [], [], 0.2)[0]:
                continue
            got = set(os.read(read, 512)) & {signal.SIGTERM, signal.SIGINT}
            if got and not done.wait(grace):
                signum = max(got)  # SIGTERM (15) over SIGINT (2)
                sys.stderr.write(
                    f"{command}: interrupted: stopped by {signal.Signals(signum).name} {where}\n"
                )
                sys.stderr.flush()
                os._exit(128 + signum)

    watcher = threading.Thread(target=watch, name="tsvq-stop-within", daemon=True)
    watcher.start()
    try:
        yield
    finally:
        done.set()
        signal.set_wakeup_fd(old)
        watcher.join()
        os.close(read)
        os.close(write)
