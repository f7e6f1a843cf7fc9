"""Why a path or the Hub cannot be reached, said in a few words and found out in seconds."""

from __future__ import annotations

import os
import socket
import stat
import urllib.parse
from pathlib import Path

HUB_TIMEOUT = 3.0  # seconds for one TCP connection to the Hub (or the proxy)


def missing_reason(path: str | os.PathLike[str]) -> str:
    """Why `path` cannot be opened: 'not found', a symbolic-link loop, or a dangling link."""
    p = Path(path)
    try:
        os.stat(p)
    except OSError as exc:
        if p.is_symlink():
            if exc.errno == 40:  # ELOOP
                return "a symbolic link that loops (too many levels of symbolic links)"
            return f"a symbolic link to {os.readlink(p)}, which does not exist"
        if exc.errno == 40:
            return "unreachable: a folder on its way is a symbolic link that loops"
        if exc.errno == 13:
            return "not readable (permission denied)"
        if exc.errno == 20:
            return "unreachable: a part of it is a file, not a folder"
        return "not found"
    return kind_of(p) or "present"


# what a path is when it is there but is neither a regular file nor a folder
_KINDS = (
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


def kind_of(path: str | os.PathLike[str]) -> str | None:
    """'a FIFO (named pipe), not a regular file' (a character or block device, a socket) for
    a path that is none of a regular file, a folder or a missing path; else None. Reading
    such a path can block forever (a FIFO) or never end (/dev/zero), and writing one replaces
    or feeds it: tsvq refuses it instead."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return None
    for test, what in _KINDS:
        if test(mode):
            return f"{what}, not a regular file"
    return None


def hub_unreachable(endpoint: str) -> str | None:
    """Why the Hugging Face Hub at `endpoint` cannot be reached now, or None if it can.

    One TCP connection (to the proxy, if one is set) with a short timeout: offline, this
    fails in milliseconds to seconds where huggingface_hub would retry for half a minute.
    """
    if os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on"):
        return "HF_HUB_OFFLINE is set"
    url = urllib.parse.urlsplit(endpoint)
    proxy = os.environ.get("HTTPS_PROXY") or os.environ.get("https_proxy")
    if proxy and url.scheme == "https":
        url = urllib.parse.urlsplit(proxy if "//" in proxy else f"http://{proxy}")
    host, port = url.hostname, url.port or (443 if url.scheme == "https" else 80)
    if not host:
        return None
    try:
        socket.create_connection((host, port), timeout=HUB_TIMEOUT).close()
    except OSError as exc:
        return f"cannot connect to {host}:{port}: {exc.strerror or exc}"
    return None


def not_there(what: str, path: str | os.PathLike[str]) -> str:
    """'{what} not found: {path}', or what else keeps it from being opened."""
    reason = missing_reason(path)
    return f"{what} not found: {path}" if reason == "not found" else f"{what} {path} is {reason}"
