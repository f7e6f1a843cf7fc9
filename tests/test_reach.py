"""tsvq.reach: why a path cannot be opened, said as what it is, and an unreachable Hub found out
in one short connection. (The same lines through the command line: the "message names the
right thing" rows of tests/robustness/test_bad_input.py.)"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable
from pathlib import Path

import pytest

from tsvq.reach import hub_unreachable, missing_reason, not_there


def _loop(tmp: Path) -> Path:
    (tmp / "a").symlink_to(tmp / "b")
    (tmp / "b").symlink_to(tmp / "a")
    return tmp / "a"


def _dangling(tmp: Path) -> Path:
    (tmp / "link").symlink_to(tmp / "gone.csv")
    return tmp / "link"


def _under_a_file(tmp: Path) -> Path:
    (tmp / "afile").write_text("x")
    return tmp / "afile" / "x.csv"


def _under_a_loop(tmp: Path) -> Path:
    return _loop(tmp) / "x.csv"


def _present(tmp: Path) -> Path:
    (tmp / "here.csv").write_text("x")
    return tmp / "here.csv"


# name -> (makes the path, the reason it is given)
CASES: dict[str, tuple[Callable[[Path], Path], str]] = {
    "missing": (lambda tmp: tmp / "none.csv", "not found"),
    "a link that loops": (_loop, "a symbolic link that loops"),
    "a dangling link": (_dangling, "a symbolic link to {tmp}/gone.csv, which does not exist"),
    "below a file": (_under_a_file, "unreachable: a part of it is a file, not a folder"),
    "below a looping link": (_under_a_loop, "unreachable: a folder on its way is a symbolic link"),
    "present": (_present, "present"),
}


@pytest.mark.parametrize("name", list(CASES))
def test_missing_reason(name: str, tmp_path: Path) -> None:
    make, reason = CASES[name]
    assert missing_reason(make(tmp_path)).startswith(reason.replace("{tmp}", str(tmp_path)))


def test_not_there_names_the_thing_and_the_path(tmp_path: Path) -> None:
    assert not_there("data file", tmp_path / "x.csv") == f"data file not found: {tmp_path}/x.csv"
    link = _dangling(tmp_path)
    assert not_there("checkpoint", link) == (
        f"checkpoint {link} is a symbolic link to {tmp_path}/gone.csv, which does not exist"
    )


def test_an_unreachable_hub_is_found_out_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("HF_HUB_OFFLINE", "HTTPS_PROXY", "https_proxy"):
        monkeypatch.delenv(var, raising=False)
    with socket.socket() as s:  # a port nothing listens on: bound, never listening
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        reason = hub_unreachable(f"http://127.0.0.1:{port}")
    assert reason is not None and reason.startswith(f"cannot connect to 127.0.0.1:{port}: ")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert hub_unreachable("https://huggingface.co") == "HF_HUB_OFFLINE is set"


def test_a_listening_hub_is_reachable(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("HF_HUB_OFFLINE", "HTTPS_PROXY", "https_proxy"):
        monkeypatch.delenv(var, raising=False)
    with socket.create_server(("127.0.0.1", 0)) as server:
        assert hub_unreachable(f"http://127.0.0.1:{server.getsockname()[1]}") is None


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file")
def test_an_unreadable_folder_says_permission_denied(tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0)
    try:
        assert missing_reason(locked / "x.csv") == "not readable (permission denied)"
    finally:
        locked.chmod(0o700)
