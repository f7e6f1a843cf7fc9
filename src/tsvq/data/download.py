"""Verified dataset downloads: fetch from the public source, check sha256, write atomically.

`tsvq data list` shows which registered datasets are present and verified under a data
directory; `tsvq data download NAME|all` fetches the missing ones. A download streams into a
temporary file beside its destination, resumes or restarts after a cut connection (a bounded
number of times), and is renamed into place only once its size and sha256 match the registry.
"""

from __future__ import annotations

import http.client
import os
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from tsvq import __version__
from tsvq.data import embedded
from tsvq.data.registry import REGISTRY, DatasetSpec
from tsvq.data.source import sha256_of, verify, vouch_path
from tsvq.errors import TsvqError, WriteFailed, one_line
from tsvq.files import atomic_path, write_failed
from tsvq.runtime.progress import show_progress, tqdm

URL_ENV = "TSVQ_DATA_URL"
# Git LFS media of lixus7/tqnet at a fixed commit: all nine files, flat names, sha256 as REGISTRY.
DEFAULT_URL = (
    "https://media.githubusercontent.com/media/lixus7/tqnet/"
    "bab1ad103726dcc6d6565940be42152d3e46ed37/dataset/"
)
SCHEMES = ("http", "https", "file")
CHUNK = 1 << 16
RETRY_HTTP = frozenset({408, 425, 429, 500, 502, 503, 504})


def base_url(url: str | None = None) -> str:
    """`url`, else `$TSVQ_DATA_URL`, else the public source; always ending in '/'."""
    url = url or os.environ.get(URL_ENV) or DEFAULT_URL
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in SCHEMES or not (parts.netloc or parts.scheme == "file"):
        raise TsvqError(
            f"data URL must start with {', '.join(s + '://' for s in SCHEMES)}, got {url!r}"
        )
    return url if url.endswith("/") else url + "/"


def source_url(name: str, url: str | None = None) -> str:
    """Where dataset `name` is fetched from: the base URL plus its flat file name."""
    return base_url(url) + urllib.parse.quote(Path(REGISTRY[name].file).name)


@dataclass(frozen=True)
class Status:
    name: str
    path: Path
    state: str  # "verified" | "vouched" | "missing" | "wrong size" | "wrong sha256" | "not a file"
    size: int | None

    @property
    def ok(self) -> bool:
        return self.state == "verified"


def check(name: str, root: Path) -> Status:
    """Whether dataset `name` is present under `root` with the registry's size and sha256 (or
    an edited copy its user vouched for, `FILE.sha256`)."""
    spec = REGISTRY[name]
    path = root / spec.file
    if not path.exists():
        return Status(name, path, "missing", None)
    if not path.is_file():
        return Status(name, path, "not a file", None)
    verdict = verify(path, spec.size, spec.sha256)
    return Status(name, path, verdict.state, verdict.size)


class _Short(Exception):
    """The connection ended before the expected number of bytes arrived."""


def download(
    name: str,
    root: Path,
    url: str | None = None,
    *,
    retries: int = 4,
    timeout: float = 30.0,
    backoff: float = 1.0,
    log: Callable[[str], None] = print,
) -> Path:
    """Fetch dataset `name` into `root` unless it is already there and verified.

    Retries a cut or failed connection up to `retries` times (waiting `backoff` x 2^k seconds),
    resuming with an HTTP Range request where the server allows it. On a wrong size or sha256,
    or when the tries run out, nothing is put in place and a `TsvqError` says why.
    """
    spec = REGISTRY[name]
    before = check(name, root)
    if before.ok:
        log(f"{name}: already present and verified: {before.path}")
        return before.path
    if before.state == "vouched":  # an edit made on purpose is never replaced unasked
        log(
            f"{name}: {before.path} is an edited copy vouched for by {vouch_path(before.path)}; "
            "left as it is (delete that file to fetch the registered one)"
        )
        return before.path
    if before.state == "not a file":
        raise TsvqError(f"{name}: {before.path} exists and is not a file; move it away first")
    src = source_url(name, url)
    with atomic_path(before.path) as tmp:
        try:
            _fetch(src, tmp, spec, retries=retries, timeout=timeout, backoff=backoff, label=name)
        except _WriteError as exc:
            raise write_failed(before.path, exc.error) from None
        digest = sha256_of(tmp)
        if digest != spec.sha256:
            raise TsvqError(
                f"{name}: the file from {src} has sha256 {digest}, expected {spec.sha256}; "
                "it was discarded and nothing was written"
            )
    replaced = "" if before.state == "missing" else f" (replaced a file with {before.state})"
    log(f"{name}: downloaded {spec.size:,} bytes, sha256 verified: {before.path}{replaced}")
    return before.path


def _fetch(
    src: str,
    tmp: Path,
    spec: DatasetSpec,
    *,
    retries: int,
    timeout: float,
    backoff: float,
    label: str,
) -> None:
    """Stream `src` into `tmp`: exactly `spec.size` bytes, with bounded retries."""
    got = 0
    show = show_progress()
    with (
        open(tmp, "wb") as out,
        tqdm(
            total=spec.size, unit="B", unit_scale=True, desc=label, disable=not show, leave=False
        ) as bar,
    ):
        for attempt in range(retries + 1):
            try:
                got = _attempt(src, out, got, spec.size, timeout, bar)
                if got == spec.size:
                    try:
                        out.flush()
                    except OSError as exc:
                        raise _WriteError(exc) from None
                    return
                raise _Short(f"connection closed after {got:,} of {spec.size:,} bytes")
            except urllib.error.HTTPError as exc:
                if exc.code not in RETRY_HTTP:
                    raise TsvqError(
                        f"{label}: {src} answered HTTP {exc.code} {exc.reason}; nothing was written"
                    ) from None
                reason = f"HTTP {exc.code} {exc.reason}"
            except (_Short, urllib.error.URLError, http.client.HTTPException, OSError) as exc:
                if isinstance(getattr(exc, "reason", exc), FileNotFoundError):  # file:// URL
                    raise TsvqError(f"{label}: {src} does not exist; nothing was written") from None
                reason = _reason(exc)
            if attempt < retries:
                time.sleep(backoff * 2**attempt)
    raise TsvqError(
        f"{label}: download from {src} failed after {retries + 1} tries ({reason}); nothing "
        "was written"
    )


def _attempt(src: str, out, got: int, size: int, timeout: float, bar: tqdm) -> int:
    """One request: continue from byte `got` if the server honours Range, else start over."""
    headers = {"User-Agent": f"tsvq/{__version__}"}
    if got:
        headers["Range"] = f"bytes={got}-"
    with urllib.request.urlopen(
        urllib.request.Request(src, headers=headers), timeout=timeout
    ) as resp:
        if got and getattr(resp, "status", None) != 206:
            out.seek(0)
            out.truncate()
            bar.reset()
            got = 0
        while chunk := resp.read(CHUNK):
            got += len(chunk)
            if got > size:  # bounded: never stream more than the registry's size
                raise TsvqError(
                    f"{src} sent more than the expected {size:,} bytes; not the registered file"
                )
            try:
                out.write(chunk)
            except OSError as exc:  # disk full or `ulimit -f`: retrying cannot help
                raise _WriteError(exc) from None
            bar.update(len(chunk))
    return got


class _WriteError(Exception):
    """Writing the local copy failed: not a network problem, so never retried."""

    def __init__(self, error: OSError) -> None:
        super().__init__(str(error))
        self.error = error


def _reason(exc: BaseException) -> str:
    inner = getattr(exc, "reason", None)
    text = one_line(inner if inner is not None else exc)
    return type(exc).__name__ if text == type(exc).__name__ else f"{type(exc).__name__}: {text}"


def download_all(
    names: list[str],
    root: Path,
    url: str | None = None,
    retries: int = 4,
    timeout: float = 30.0,
    say: Callable[[str], None] = print,
) -> None:
    """Download and verify `names` ("all" for every one) into `root`; one failure does not stop
    the others (a write failure does: a full disk stays full), and all are named at the end."""
    _check_root(root)
    names = list(REGISTRY) if "all" in names else list(dict.fromkeys(names))
    base = base_url(url)  # checked before anything is fetched
    failed: list[str] = []
    for name in names:
        try:
            download(name, root, base, retries=retries, timeout=timeout)
        except TsvqError as exc:
            if len(names) == 1 or isinstance(exc, WriteFailed):
                raise
            say(f"{name}: failed: {exc}")
            failed.append(name)
    if failed:
        raise TsvqError(f"{len(failed)} of {len(names)} downloads failed: {', '.join(failed)}")


def status_table(root: Path, own_copies: bool = True) -> str:
    """Which datasets `root` holds, verified or not, with the command that fetches each; with
    `own_copies` (no --root_path: the lookup goes on to them), an ETT dataset that `root` lacks
    is shown as tsvq's own copy, checked as every read checks it."""
    _check_root(root)
    lines = [f"data directory: {root}", f"{'name':<12} {'status':<13} {'bytes':>11}  path"]
    for name, spec in REGISTRY.items():
        st = check(name, root)
        own = embedded.path_of(spec.file) if own_copies and st.state == "missing" else None
        if own is not None:
            try:
                embedded.verified_bytes(own, spec.sha256, spec.size)
                st = Status(name, own, "embedded", spec.size)
            except TsvqError:
                st = Status(name, own, "damaged copy", None)
        size = f"{st.size:,}" if st.size is not None else "-"
        hint = {
            "verified": "",
            "vouched": f"  (edited on purpose: {vouch_path(st.path).name})",
            "embedded": "  (tsvq's own copy, read when no data directory holds the file)",
            "damaged copy": f"  (reinstall tsvq, or tsvq data download {name})",
        }.get(st.state, f"  (tsvq data download {name})")
        lines.append(f"{name:<12} {st.state:<13} {size:>11}  {st.path}{hint}")
    return "\n".join(lines)


def _check_root(root: Path) -> None:
    if root.exists() and not root.is_dir():
        raise TsvqError(f"--root_path {root} is a file, not a directory")
