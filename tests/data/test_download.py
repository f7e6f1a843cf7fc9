"""Verified downloads against a real HTTP server on 127.0.0.1 serving ../shared/data.

Modes (the first part of the URL path): good (with Range support), corrupt (one byte changed),
cut (closes midway, every time), reset (TCP reset midway), flaky (cuts the first two tries, then
honours Range), flaky_norange (cuts once, then ignores Range), busy (503 twice), long (more bytes
than the file, no Content-Length), slow (trickles).
"""

from __future__ import annotations

import fcntl
import os
import pty
import select
import signal
import socket
import struct
import subprocess
import sys
import termios
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tsvq.data.download import URL_ENV, check, download
from tsvq.data.registry import REGISTRY
from tsvq.errors import TsvqError

pytestmark = pytest.mark.dataset("illness")


class Handler(BaseHTTPRequestHandler):
    server: Server

    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        mode, _, name = self.path.lstrip("/").partition("/")
        srv = self.server
        with srv.lock:
            srv.requests.append((mode, name, self.headers.get("Range")))
            tries = sum(1 for m, n, _ in srv.requests if (m, n) == (mode, name))
        path = srv.files.get(name)
        if path is None or not path.exists():
            self.send_error(404)
            return
        body = path.read_bytes()
        if mode == "corrupt":
            body = body[:100] + bytes([body[100] ^ 1]) + body[101:]
        if (
            mode in ("cut", "reset")
            or (mode == "flaky" and tries <= 2)
            or (mode == "flaky_norange" and tries == 1)
        ):
            self._cut(body, reset=mode == "reset")
        elif mode == "busy" and tries <= 2:
            self.send_error(503)
        elif mode == "long":
            self.send_response(200)
            self.end_headers()
            for _ in range(3):  # bounded: three copies, then close
                self.wfile.write(body)
        elif mode == "slow":
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            for i in range(0, min(len(body), 600 * 1024), 1024):  # bounded: at most ~60 s
                self.wfile.write(body[i : i + 1024])
                self.wfile.flush()
                time.sleep(0.1)
        else:
            self._serve(body, ranges=mode != "flaky_norange")

    def _serve(self, body: bytes, ranges: bool) -> None:
        start = 0
        asked = self.headers.get("Range")
        if ranges and asked and asked.startswith("bytes=") and asked.endswith("-"):
            start = int(asked[6:-1])
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
        else:
            self.send_response(200)
        self.send_header("Content-Length", str(len(body) - start))
        self.end_headers()
        self.wfile.write(body[start:])

    def _cut(self, body: bytes, reset: bool) -> None:
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body[: len(body) // 2])
        self.wfile.flush()
        if reset:  # RST instead of FIN: the client sees ConnectionResetError
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.connection.shutdown(socket.SHUT_RDWR)
        self.close_connection = True


class Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, data_dir: Path) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        # what it serves: each registered file by its name, from the benchmark data
        self.files = {Path(spec.file).name: data_dir / spec.file for spec in REGISTRY.values()}
        self.requests: list[tuple[str, str, str | None]] = []
        self.lock = threading.Lock()

    def url(self, mode: str) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/{mode}/"


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch, data_dir: Path) -> Iterator[Server]:
    monkeypatch.setenv("no_proxy", "127.0.0.1")
    monkeypatch.delenv(URL_ENV, raising=False)
    srv = Server(data_dir)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()
    thread.join(timeout=10)


def _verified(root: Path, name: str) -> bool:
    return check(name, root).ok


def test_download_verifies_and_lists(server: Server, tmp_path: Path, run_cli) -> None:
    root = tmp_path / "d"
    rc, out, err = run_cli(
        [
            "data",
            "download",
            "illness",
            "Exchange",
            "--root_path",
            str(root),
            "--url",
            server.url("good"),
        ]
    )
    assert rc == 0, err
    assert err == ""  # no progress bar when stderr is not a terminal
    assert "illness: downloaded 66,653 bytes, sha256 verified" in out
    assert _verified(root, "illness") and _verified(root, "exchange")
    assert sorted(p.name for p in root.rglob("*") if p.is_file()) == [
        "exchange_rate.csv",
        "national_illness.csv",
    ]
    rc, out, _err = run_cli(["data", "list", "--root_path", str(root)])
    assert rc == 0
    lines = {line.split()[0]: line for line in out.splitlines()[2:]}
    assert "verified" in lines["illness"] and "verified" in lines["exchange"]
    assert "missing" in lines["etth1"] and "tsvq data download etth1" in lines["etth1"]


def test_wrong_checksum_leaves_no_file(server: Server, tmp_path: Path, run_cli, tree) -> None:
    rc, _out, err = run_cli(
        [
            "data",
            "download",
            "illness",
            "--root_path",
            str(tmp_path / "d"),
            "--url",
            server.url("corrupt"),
        ]
    )
    assert rc == 2 and err.count("\n") == 1
    assert f"expected {REGISTRY['illness'].sha256}" in err and "nothing was written" in err
    assert tree(tmp_path) == {}  # no file, no temporary, no empty folders


@pytest.mark.parametrize("mode", ["cut", "reset"])
def test_cut_connection_is_retried_then_given_up(
    server: Server, tmp_path: Path, mode: str, tree
) -> None:
    with pytest.raises(TsvqError, match="failed after 3 tries") as info:
        download(
            "illness",
            tmp_path,
            server.url(mode),
            retries=2,
            backoff=0,
            timeout=10,
            log=lambda _: None,
        )
    assert "nothing was written" in str(info.value)
    assert len(server.requests) == 3
    assert tree(tmp_path) == {}


def test_cut_connection_resumes_with_range(server: Server, tmp_path: Path) -> None:
    download(
        "exchange",
        tmp_path,
        server.url("flaky"),
        retries=3,
        backoff=0,
        timeout=10,
        log=lambda _: None,
    )
    assert _verified(tmp_path, "exchange")
    half = REGISTRY["exchange"].size // 2
    assert [r[2] for r in server.requests] == [None, f"bytes={half}-", f"bytes={half}-"]


def test_cut_connection_restarts_where_range_is_ignored(server: Server, tmp_path: Path) -> None:
    download(
        "illness",
        tmp_path,
        server.url("flaky_norange"),
        retries=3,
        backoff=0,
        timeout=10,
        log=lambda _: None,
    )
    assert _verified(tmp_path, "illness")
    assert len(server.requests) == 2


def test_busy_server_is_retried(server: Server, tmp_path: Path) -> None:
    download(
        "illness",
        tmp_path,
        server.url("busy"),
        retries=2,
        backoff=0,
        timeout=10,
        log=lambda _: None,
    )
    assert _verified(tmp_path, "illness") and len(server.requests) == 3


def test_more_bytes_than_the_file_is_refused(server: Server, tmp_path: Path, tree) -> None:
    with pytest.raises(TsvqError, match="more than the expected 66,653 bytes"):
        download(
            "illness",
            tmp_path,
            server.url("long"),
            retries=0,
            backoff=0,
            timeout=10,
            log=lambda _: None,
        )
    assert tree(tmp_path) == {}


def test_present_and_verified_is_not_fetched_again(server: Server, tmp_path: Path, tree) -> None:
    download("illness", tmp_path, server.url("good"), log=lambda _: None)
    before = tree(tmp_path)
    said: list[str] = []
    download("illness", tmp_path, server.url("good"), log=said.append)
    assert len(server.requests) == 1 and "already present and verified" in said[0]
    assert tree(tmp_path) == before


def test_a_bad_local_copy_is_replaced_only_by_a_verified_one(
    server: Server, tmp_path: Path
) -> None:
    dest = tmp_path / REGISTRY["illness"].file
    dest.parent.mkdir(parents=True)
    dest.write_bytes(b"date,x\n2020-01-01,1\n")
    with pytest.raises(TsvqError, match="sha256"):
        download("illness", tmp_path, server.url("corrupt"), retries=0, log=lambda _: None)
    assert dest.read_bytes() == b"date,x\n2020-01-01,1\n"  # left as it was
    said: list[str] = []
    download("illness", tmp_path, server.url("good"), log=said.append)
    assert _verified(tmp_path, "illness") and "replaced a file with wrong size" in said[0]


def test_all_reports_each_failure(
    server: Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, data_dir: Path, run_cli
) -> None:
    monkeypatch.setenv(URL_ENV, server.url("good"))  # the variable stands in for --url
    root = tmp_path / "d"
    rc, out, err = run_cli(["data", "download", "all", "--root_path", str(root)])
    present = [n for n, s in REGISTRY.items() if (data_dir / s.file).exists()]
    absent = [n for n in REGISTRY if n not in present]
    assert all(_verified(root, n) for n in present)
    if absent:  # electricity and traffic are not in ../shared/data: the server answers 404
        assert rc == 2 and err.count("\n") == 1
        assert f"{len(absent)} of {len(REGISTRY)} downloads failed: {', '.join(absent)}" in err
        assert all(f"{n}: failed: {n}: " in out and "HTTP 404" in out for n in absent)
    else:
        assert rc == 0


def test_progress_is_shown_on_a_terminal(server: Server, tmp_path: Path, subprocess_env) -> None:
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))  # 24x100 chars
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tsvq",
            "data",
            "download",
            "exchange",
            "--root_path",
            str(tmp_path),
            "--url",
            server.url("good"),
        ],
        env={**subprocess_env(), "no_proxy": "127.0.0.1"},
        stdout=subprocess.PIPE,
        stderr=slave,
        text=True,
    )
    os.close(slave)
    seen = b""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 1.0)
        if ready:
            try:
                chunk = os.read(master, 4096)
            except OSError:  # the child closed the terminal
                break
            if not chunk:
                break
            seen += chunk
        elif proc.poll() is not None:
            break
    os.close(master)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0 and "sha256 verified" in out
    assert b"exchange" in seen and b"B" in seen, seen  # tqdm's bar: "exchange: ... kB/s"


def test_ctrl_c_during_a_download_leaves_nothing(
    server: Server, tmp_path: Path, subprocess_env, tree
) -> None:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tsvq",
            "data",
            "download",
            "exchange",
            "--root_path",
            str(tmp_path / "d"),
            "--url",
            server.url("slow"),
        ],
        env={**subprocess_env(), "no_proxy": "127.0.0.1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    for _ in range(600):  # bounded wait for the download to be under way
        if server.requests and list(tmp_path.rglob("*.tmp")):
            break
        time.sleep(0.05)
    assert list(tmp_path.rglob("*.tmp")), "the download never started"
    proc.send_signal(signal.SIGINT)
    _out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130 and err.count("\n") == 1, err
    assert tree(tmp_path) == {}
