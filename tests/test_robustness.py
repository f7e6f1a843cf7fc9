"""Bad input everywhere, safe checkpoint loading, atomic writes, and the non-finite guard.

The bad-input matrix is a table: each row is a command line that must end with exit status 2,
one line on stderr naming the value, no traceback and no file written. Commands landing later
(eval, encode, decode, export, plot) add rows to CASES; `setup` makes the files a row needs.
"""

from __future__ import annotations

import io
import os
import pickle
import signal
import struct
import subprocess
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch
from robust_helpers import (
    BAD_FILES,
    DATA_DIR,
    PYTHON,
    REPO,
    needs_data,
    run_cli,
    subprocess_env,
    tree,
)

from tsvq import checkpoint
from tsvq.checkpoint import DataRecord, ResumeState, RunRecord
from tsvq.config import TrainConfig
from tsvq.data import DataSpec, Scaler, epoch_order
from tsvq.errors import TsvqError
from tsvq.files import stale_temporaries, write_text, write_with
from tsvq.model import VQVAE, ModelConfig

TRAIN = ("train", "--context_points", "96", "--n_epochs", "1", "--max_steps_per_epoch", "1",
         "--save_path", "{tmp}/out")
ILL = (*TRAIN, "--dset", "illness")
CUSTOM = (*TRAIN, "--dset", "custom", "--data_path", "{tmp}/bad.csv")
NAME = "vqvae_cw96_ps16_ed32_cf4_cb256_model1"
LAST = f"out/illness/{NAME}_last.pth"


class Evil:
    """Pickles to a call that creates `marker`: loading it must never run that call."""

    def __init__(self, marker: Path, how: str = "system") -> None:
        self.marker, self.how = marker, how

    def __reduce__(self):  # noqa: ANN204 - pickle protocol
        if self.how == "open":
            return (open, (str(self.marker), "w"))
        return (os.system, (f"touch {self.marker}",))


def _put(rel: str, content: bytes) -> Callable[[Path], None]:
    def setup(tmp: Path) -> None:
        (tmp / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp / rel).write_bytes(content)
    return setup


def _put_ckpt(rel: str, payload: Callable[[Path], object], protocol: int = 2
              ) -> Callable[[Path], None]:
    def setup(tmp: Path) -> None:
        (tmp / rel).parent.mkdir(parents=True, exist_ok=True)
        torch.save(payload(tmp), tmp / rel, pickle_protocol=protocol)
    return setup


def _sine_csv(rows: int, columns: str = "a,b,OT") -> bytes:
    names = columns.split(",")
    lines = [f"date,{columns}"] + [
        f"2020-01-01 {i // 60:02d}:{i % 60:02d}:00,"
        + ",".join(f"{np.sin(i / 5 + k):.4f}" for k in range(len(names)))
        for i in range(rows)
    ]
    return ("\n".join(lines) + "\n").encode()


def _state(**cfg: object) -> Callable[[Path], dict]:
    """A last-state checkpoint dict as train() writes it, for a model config `cfg`."""
    model_cfg = ModelConfig(context_points=96, seed=2021, **cfg)
    spec = DataSpec("illness", None, None, 96)
    data = DataRecord(spec, Scaler("standard", np.zeros(7, np.float32), np.ones(7, np.float32)),
                      tuple("abcdefg"), 7)
    resume = ResumeState({}, {}, {}, torch.get_rng_state(), [], 1.0, 1, 0)
    record = RunRecord(model_cfg, data, TrainConfig(), {}, 0, 1.0, 1.0, {}, resume=resume)
    return lambda tmp: checkpoint.payload(record, VQVAE(model_cfg))


@dataclass(frozen=True)
class Case:
    argv: tuple[str, ...]  # "{tmp}" stands for the test's folder
    needle: str  # must be in the one line on stderr: the value, or the path
    setup: Callable[[Path], None] | None = None
    data: bool = False  # needs the benchmark data
    kind: str = "bad value"  # the class of fault the row covers (docs/robustness.md)


# the commands that read a checkpoint, each with its other required flags
CKPT_COMMANDS = {
    "eval": ("eval",),
    "plot": ("plot", "--out", "{tmp}/plots"),
    "encode": ("encode", "--split", "test", "--out", "{tmp}/t.npz"),
    "decode": ("decode", "--tokens", "{tmp}/t.npz", "--out", "{tmp}/x.npz"),
    "export": ("export", "--out", "{tmp}/exported"),
}
BAD_CKPTS = {
    "missing": ("{tmp}/x.pth", None),
    "text file": ("not a torch checkpoint", _put("x.pth", b"not a checkpoint\n")),
    "not tsvq": ("not a tsvq checkpoint", _put_ckpt("x.pth", lambda tmp: {"w": torch.ones(2)})),
    "carrying code": ("posix.system", _put_ckpt(
        "x.pth", lambda tmp: {**_state()(tmp), "x": Evil(tmp / "PWNED")})),
}


CASES: dict[str, Case] = {
    # -- train: flags out of range, wrong type, incompatible combinations
    "train context_points 0": Case((*ILL, "--context_points", "0"), "got 0"),
    "train context_points abc": Case((*ILL, "--context_points", "abc"), "'abc'"),
    "train batch_size 1.5": Case((*ILL, "--batch_size", "1.5"), "'1.5'"),
    "train n_epochs -1": Case((*ILL, "--n_epochs=-1"), "got -1"),
    "train lr 0": Case((*ILL, "--lr", "0"), "got 0"),
    "train lr nan": Case((*ILL, "--lr", "nan"), "'nan'"),
    "train lr inf": Case((*ILL, "--lr", "inf"), "'inf'"),
    "train weight_decay negative": Case((*ILL, "--weight_decay=-1e-4"), "-1e-4"),
    "train revin 2": Case((*ILL, "--revin", "2"), "'2'"),
    "train amp yes": Case((*ILL, "--amp", "yes"), "'yes'"),
    "train dset unknown": Case((*ILL, "--dset", "ettx9"), "'ettx9'"),
    "train features X": Case((*ILL, "--features", "X"), "'X'"),
    "train scaler robust": Case((*ILL, "--scaler", "robust"), "'robust'"),
    "train device tpu": Case((*ILL, "--device", "tpu"), "'tpu'"),
    "train unknown flag": Case((*ILL, "--learning_rate", "1"), "--learning_rate"),
    "train compression_factor 5": Case((*ILL, "--compression_factor", "5"),
                                       "compression_factor=5"),
    "train compression_factor 12 with patch_size 16": Case(
        (*ILL, "--compression_factor", "12"), "compression_factor=12 needs patch_size"),
    "train patch_size 7 with context_points 96": Case((*ILL, "--patch_size", "7"),
                                                      "patch_size=7"),
    "train odd block_hidden_size": Case((*ILL, "--block_hidden_size", "3"), "got 3"),
    "train ema_decay 1.5": Case((*ILL, "--ema_decay", "1.5"), "1.5"),
    "train custom without data_path": Case((*TRAIN, "--dset", "custom"), "--data_path"),
    "train channel out of range": Case((*ILL, "--channel", "7"), "channel=7", data=True),
    "train target missing (S)": Case((*ILL, "--features", "S", "--target", "NOPE"), "'NOPE'",
                                     data=True),
    "train window longer than the data": Case((*ILL, "--context_points", "1024"),
                                              "context_points=1024", data=True),
    "train dataset absent": Case((*ILL, "--root_path", "{tmp}/empty"),
                                 "tsvq data download illness"),
    **({} if torch.cuda.is_available() else {
        "train device cuda without one": Case((*ILL, "--device", "cuda"), "cuda", data=True)}),
    # -- train: data files
    **{f"train csv {k}": Case(CUSTOM, v[1], _put("bad.csv", v[0])) for k, v in BAD_FILES.items()},
    "train csv missing": Case(CUSTOM, "{tmp}/bad.csv"),
    "train csv too short for the window": Case(CUSTOM, "context_points=96",
                                               _put("bad.csv", _sine_csv(120))),
    "train csv without the target column": Case((*CUSTOM, "--features", "MS"), "'OT'",
                                                _put("bad.csv", _sine_csv(400, "a,b"))),
    # -- train: paths
    "train save_path is a file": Case((*ILL, "--save_path", "{tmp}/afile"), "{tmp}/afile",
                                      _put("afile", b"x")),
    "train save_path below a file": Case((*ILL, "--save_path", "{tmp}/afile/sub"),
                                         "{tmp}/afile", _put("afile", b"x")),
    "train checkpoint path is a folder": Case(
        ILL, f"{NAME}.pth is a directory", lambda tmp: (tmp / f"out/illness/{NAME}.pth").mkdir(
            parents=True), data=True),
    # -- train --resume: checkpoints missing, corrupt, foreign, carrying code, other settings
    "train resume without a last state": Case((*ILL, "--resume"), "no last-state checkpoint",
                                              data=True),
    "train resume empty file": Case((*ILL, "--resume"), "truncated, corrupt",
                                    _put(LAST, b""), data=True),
    "train resume truncated": Case((*ILL, "--resume"), "truncated, corrupt", lambda tmp: (
        _put_ckpt(LAST, _state())(tmp),
        (tmp / LAST).write_bytes((tmp / LAST).read_bytes()[:300])), data=True),
    "train resume text file": Case((*ILL, "--resume"), "not a torch checkpoint",
                                   _put(LAST, b"not a checkpoint\n"), data=True),
    "train resume not tsvq": Case((*ILL, "--resume"), "not a tsvq checkpoint",
                                  _put_ckpt(LAST, lambda tmp: {"w": torch.ones(2)}), data=True),
    "train resume best instead of last": Case(
        (*ILL, "--resume"), "not a last-state checkpoint",
        _put_ckpt(LAST, lambda tmp: {**_state()(tmp), "tsvq": {
            k: v for k, v in _state()(tmp)["tsvq"].items() if k != "resume"}}), data=True),
    "train resume other configuration": Case((*ILL, "--resume"), "block_hidden_size=32, now 64",
                                             _put_ckpt(LAST, _state(block_hidden_size=32)),
                                             data=True),
    "train resume carrying code": Case(
        (*ILL, "--resume"), "posix.system",
        _put_ckpt(LAST, lambda tmp: {**_state()(tmp), "x": Evil(tmp / "PWNED")}), data=True),
    "train resume bare pickle carrying code": Case(
        (*ILL, "--resume"), "not a torch checkpoint",
        lambda tmp: _put(LAST, pickle.dumps({"x": Evil(tmp / "PWNED")}, protocol=2))(tmp),
        data=True),
    # -- commands that read a checkpoint: missing, not a checkpoint, foreign, carrying code
    **{f"{cmd} checkpoint {kind}": Case((*argv, "--checkpoint", "{tmp}/x.pth"), needle, setup)
       for cmd, argv in CKPT_COMMANDS.items()
       for kind, (needle, setup) in BAD_CKPTS.items()},
    "eval split unknown": Case(("eval", "--checkpoint", "{tmp}/x.pth", "--split", "dev"),
                               "'dev'"),
    "eval checkpoint with an empty model": Case(
        ("eval", "--checkpoint", "{tmp}/x.pth"), "does not fit",
        _put_ckpt("x.pth", lambda tmp: {**_state()(tmp), "model_state_dict": {}})),
    "plot out is a file": Case(("plot", "--checkpoint", "{tmp}/x.pth", "--out", "{tmp}/afile"),
                               "{tmp}/afile", lambda tmp: (_put("afile", b"x")(tmp),
                                                           _put_ckpt("x.pth", _state())(tmp))),
    # -- data
    "data without an action": Case(("data",), "list|download"),
    "data unknown action": Case(("data", "fetch"), "'fetch'"),
    "data download without names": Case(("data", "download"), "NAME"),
    "data download unknown name": Case(("data", "download", "ettx9"), "'ettx9'"),
    "data download bad scheme": Case(("data", "download", "illness", "--root_path", "{tmp}/d",
                                      "--url", "ftp://example.org/"), "'ftp://example.org/'"),
    "data download not a URL": Case(("data", "download", "illness", "--root_path", "{tmp}/d",
                                     "--url", "nowhere"), "'nowhere'"),
    "data download retries -1": Case(("data", "download", "illness", "--retries=-1"), "got -1"),
    "data download timeout 0": Case(("data", "download", "illness", "--timeout", "0"), "got 0"),
    "data download absent file URL": Case(
        ("data", "download", "illness", "--root_path", "{tmp}/d", "--url", "file://{tmp}/no/"),
        "{tmp}/no/national_illness.csv"),
    "data download refused connection": Case(
        ("data", "download", "illness", "--root_path", "{tmp}/d", "--retries", "0",
         "--url", "http://127.0.0.1:9/"), "127.0.0.1:9"),
    # -- round 2 (issue 12): each row names its class
    "train data_path with a named dataset": Case(
        (*ILL, "--data_path", "x.csv"), "--data_path has no effect", kind="silent flag"),
    "train ema_decay with quantizer vq": Case(
        (*ILL, "--quantizer", "vq", "--ema_decay", "0.9"), "--ema_decay has no effect",
        kind="silent flag"),
    "train channel with features S": Case(
        (*ILL, "--features", "S", "--channel", "0"), "--channel has no effect",
        kind="silent flag"),
    "train patience not below n_epochs": Case(
        (*ILL, "--patience", "5"), "--patience has no effect", kind="silent flag"),
    "train root_path with an absolute data_path": Case(
        (*CUSTOM, "--root_path", "{tmp}"), "--root_path has no effect", kind="silent flag"),
    "encode data_path with a named dataset": Case(
        ("encode", "--checkpoint", "{tmp}/x.pth", "--out", "{tmp}/t.npz", "--dset", "illness",
         "--data_path", "x.csv"), "--data_path has no effect", kind="silent flag"),
    "train seed beyond 2^32 - 1": Case((*ILL, "--seed", "4294967296"), "4294967296",
                                       kind="numbers at extremes"),
    "train seed beyond 2^64": Case((*ILL, "--seed", str(2**64)), str(2**64),
                                   kind="numbers at extremes"),
    "train codebook that cannot fit in memory": Case(
        (*ILL, "--num_embeddings", "1000000000"), "GiB", data=True, kind="numbers at extremes"),
    "train hidden size that cannot fit in memory": Case(
        (*ILL, "--block_hidden_size", "200000"), "GiB", data=True, kind="numbers at extremes"),
    "train minmax scaler overflows float32": Case(
        (*CUSTOM, "--scaler", "minmax"), "overflows float32 on column 'a'",
        _put("bad.csv", b"date,a,OT\n" + b"".join(
            f"2020-01-01 {i // 60:02d}:{i % 60:02d}:00,{3e38 if i % 2 else -3e38},{i}\n".encode()
            for i in range(400))), kind="numbers at extremes"),
    "train data file is a symlink loop": Case(
        CUSTOM, "symbolic link that loops", lambda tmp: (
            (tmp / "bad.csv").symlink_to(tmp / "loop"), (tmp / "loop").symlink_to(tmp / "bad.csv")),
        kind="message names the right thing"),
    "eval checkpoint is a dangling link": Case(
        ("eval", "--checkpoint", "{tmp}/x.pth"), "which does not exist",
        lambda tmp: (tmp / "x.pth").symlink_to(tmp / "nowhere.pth"),
        kind="message names the right thing"),
    "plot history with a non-numeric cell": Case(
        ("plot", "--checkpoint", "{tmp}/x.pth", "--out", "{tmp}/plots"), "not a finite number",
        lambda tmp: (_put_ckpt("x.pth", _state())(tmp), _put("x_history.csv", (
            b"epoch,train_loss,valid_loss,train_vq_loss,valid_vq_loss,train_recon_loss,"
            b"valid_recon_loss\n1,abc,1,1,1,1,1\n"))(tmp)), kind="plot history"),
    "plot history without its columns": Case(
        ("plot", "--checkpoint", "{tmp}/x.pth", "--out", "{tmp}/plots"), "lacks the column",
        lambda tmp: (_put_ckpt("x.pth", _state())(tmp),
                     _put("x_history.csv", b"\x00\x01garbage\n")(tmp)), kind="plot history"),
    "plot history with no epochs": Case(
        ("plot", "--checkpoint", "{tmp}/x.pth", "--out", "{tmp}/plots"), "holds no epochs",
        lambda tmp: (_put_ckpt("x.pth", _state())(tmp), _put("x_history.csv", (
            b"epoch,train_loss,valid_loss,train_vq_loss,valid_vq_loss,train_recon_loss,"
            b"valid_recon_loss\n"))(tmp)), kind="plot history"),
    "data list root_path is a file": Case(("data", "list", "--root_path", "{tmp}/afile"),
                                          "{tmp}/afile", _put("afile", b"x")),
    "data download root_path is a file": Case(
        ("data", "download", "illness", "--root_path", "{tmp}/afile"), "{tmp}/afile",
        _put("afile", b"x")),
}


def _fill(text: str, tmp: Path) -> str:
    return text.replace("{tmp}", str(tmp))


@pytest.mark.parametrize("name", list(CASES))
def test_bad_input(name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    case = CASES[name]
    if case.data and not (DATA_DIR / "illness").exists():
        pytest.skip("needs the benchmark data")
    monkeypatch.chdir(tmp_path)  # a default --save_path would land here, not in the repo
    monkeypatch.setenv("TSVQ_DATA_DIR", str(DATA_DIR))
    if case.setup:
        case.setup(tmp_path)
    before = tree(tmp_path)
    rc, _out, err = run_cli([_fill(a, tmp_path) for a in case.argv])
    assert rc == 2, (rc, err)
    assert err.endswith("\n") and err.count("\n") == 1, err
    assert "Traceback" not in err
    assert _fill(case.needle, tmp_path) in err, err
    assert tree(tmp_path) == before, "a file was written (or a planted payload ran)"


SUBPROCESS_ROWS = ["train lr nan", "train csv binary garbage", "train resume carrying code",
                   "data download bad scheme"]


@pytest.mark.parametrize("name", SUBPROCESS_ROWS)
def test_bad_input_as_a_real_process(name: str, tmp_path: Path) -> None:
    case = CASES[name]
    if case.data and not (DATA_DIR / "illness").exists():
        pytest.skip("needs the benchmark data")
    if case.setup:
        case.setup(tmp_path)
    before = tree(tmp_path)
    proc = subprocess.run([PYTHON, "-m", "tsvq", *[_fill(a, tmp_path) for a in case.argv]],
                          cwd=tmp_path, env=subprocess_env(), capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.count("\n") == 1 and _fill(case.needle, tmp_path) in proc.stderr
    assert tree(tmp_path) == before


def test_spec_script_answers_bad_flags_the_same_way(tmp_path: Path) -> None:
    proc = subprocess.run([PYTHON, str(REPO / "vqvae_train.py"), "--compression_factor", "12"],
                          cwd=tmp_path, env=subprocess_env(), capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "compression_factor=12" in proc.stderr
    assert list(tmp_path.iterdir()) == []


# ---- checkpoints: every bad file is refused with a reason; code in a pickle never runs -------

GOOD = {"model_state_dict": {"w": torch.ones(3)}, "config": {}, "args": {}, "epoch": 1,
        "train_loss": 1.0, "val_loss": 1.0}


def _payload_offsets(raw: bytes) -> dict[str, int]:
    """Where each part's bytes start inside a torch zip checkpoint (after its local header)."""
    with zipfile.ZipFile(io.BytesIO(raw)) as archive:
        infos = archive.infolist()
    offsets = {}
    for info in infos:
        name_len, extra_len = struct.unpack("<HH", raw[info.header_offset + 26:
                                                       info.header_offset + 30])
        offsets[info.filename.split("/", 1)[1]] = info.header_offset + 30 + name_len + extra_len
    return offsets


def _flip(raw: bytes, at: int) -> bytes:
    return raw[:at] + bytes([raw[at] ^ 0x01]) + raw[at + 1:]


def _ckpt_files(tmp: Path) -> dict[str, tuple[Path, str]]:
    marker = tmp / "PWNED"
    checkpoint.save(tmp / "good.pth", GOOD)
    raw = (tmp / "good.pth").read_bytes()
    files: dict[str, tuple[bytes | object, str]] = {
        "empty": (b"", "truncated, corrupt"),
        "truncated": (raw[: len(raw) // 2], "truncated, corrupt"),
        "truncated by one byte": (raw[:-1], "truncated, corrupt"),
        "one weight byte flipped": (_flip(raw, _payload_offsets(raw)["data/0"]), "CRC-32"),
        "random bytes": (np.random.default_rng(0).bytes(4096), "not a torch checkpoint"),
        "text": (b"hello\n", "not a torch checkpoint"),
        "plain tensor dict": ({"w": torch.ones(2)}, "not a tsvq checkpoint"),
        "a list": ([1, 2], "not a tsvq checkpoint"),
        "keys missing": ({"format": checkpoint.FORMAT, "epoch": 1}, "lacks model_state_dict"),
        "numpy array": ({**GOOD, "x": np.ones(2)}, "would import numpy"),
        "os.system payload": ({"format": checkpoint.FORMAT, **GOOD, "x": Evil(marker)},
                              "would import posix.system"),
        "open() payload": ({"format": checkpoint.FORMAT, **GOOD, "x": Evil(marker, "open")},
                           "would import io.open"),
        "payload in the weights": ({"format": checkpoint.FORMAT, **GOOD,
                                    "model_state_dict": {"w": Evil(marker)}}, "posix.system"),
    }
    out = {}
    for name, (content, needle) in files.items():
        path = tmp / f"{name.replace(' ', '_')}.pth"
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            torch.save(content, path)
        out[name] = (path, needle)
    for protocol in (2, 4):  # a bare pickle (no torch zip), as an attacker would write it
        path = tmp / f"bare_pickle_{protocol}.pth"
        path.write_bytes(pickle.dumps({"x": Evil(marker)}, protocol=protocol))
        out[f"bare pickle protocol {protocol}"] = (path, "not a torch checkpoint")
    return out


def test_bad_checkpoints_are_refused_and_code_never_runs(tmp_path: Path) -> None:
    files = _ckpt_files(tmp_path)
    assert checkpoint.load(tmp_path / "good.pth")["epoch"] == 1
    for name, (path, needle) in files.items():
        with pytest.raises(TsvqError) as info:
            checkpoint.load(path)
        message = str(info.value)
        assert needle in message and str(path) in message and "\n" not in message, (name, message)
    assert not (tmp_path / "PWNED").exists()
    with pytest.raises(TsvqError, match="checkpoint not found"):
        checkpoint.load(tmp_path / "none.pth")
    with pytest.raises(TsvqError, match="is a directory"):
        checkpoint.load(tmp_path)


def test_any_flipped_bit_in_the_contents_is_caught(tmp_path: Path) -> None:
    """torch does not check zip CRCs; checkpoint.load does, so no flip loads silently."""
    checkpoint.save(tmp_path / "good.pth", GOOD)
    raw = (tmp_path / "good.pth").read_bytes()
    with zipfile.ZipFile(tmp_path / "good.pth") as archive:
        sizes = {i.filename.split("/", 1)[1]: i.file_size for i in archive.infolist()}
    bad = tmp_path / "bad.pth"
    for part, start in _payload_offsets(raw).items():
        for at in range(start, start + sizes[part]):
            bad.write_bytes(_flip(raw, at))
            with pytest.raises(TsvqError, match="CRC-32"):
                checkpoint.load(bad)


def test_the_planted_payload_is_live(tmp_path: Path) -> None:
    """Control: the same file loaded unsafely does run the code, so the test above means it."""
    _ckpt_files(tmp_path)
    torch.load(tmp_path / "os.system_payload.pth", weights_only=False)
    assert (tmp_path / "PWNED").exists()


# ---- atomic writes ----------------------------------------------------------------------------

WRITER = """
import sys, torch
from tsvq import checkpoint
print("ready", flush=True)
for i in range(1, 100_000):
    checkpoint.save(sys.argv[1], {"model_state_dict": {"w": torch.full((300_000,), float(i))},
                    "config": {}, "args": {}, "epoch": i, "train_loss": 0.0, "val_loss": 0.0})
"""


@pytest.mark.parametrize("delay", [0.0, 0.05, 0.2, 0.45])
def test_sigkill_at_any_moment_leaves_a_loadable_checkpoint(tmp_path: Path, delay: float) -> None:
    path = tmp_path / "model.pth"
    checkpoint.save(path, {**GOOD, "model_state_dict": {"w": torch.zeros(300_000)}, "epoch": 0})
    proc = subprocess.Popen([PYTHON, "-c", WRITER, str(path)], env=subprocess_env(),
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline() == "ready\n"
    time.sleep(delay)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    state = checkpoint.load(path)
    w = state["model_state_dict"]["w"]
    assert (w == state["epoch"]).all(), "a checkpoint mixing two writes"
    assert len(stale_temporaries(path)) <= 1


def test_written_files_get_the_usual_mode(tmp_path: Path) -> None:
    checkpoint.save(tmp_path / "m.pth", GOOD)
    mask = os.umask(0)
    os.umask(mask)
    assert (tmp_path / "m.pth").stat().st_mode & 0o777 == 0o666 & ~mask


def test_failed_write_leaves_nothing(tmp_path: Path) -> None:
    def writer(tmp: Path) -> None:
        tmp.write_text("half")
        raise ArithmeticError("stopped halfway")  # not a write error: passes through

    with pytest.raises(ArithmeticError):
        write_with(tmp_path / "a" / "b" / "m.txt", writer)
    assert list(tmp_path.iterdir()) == []  # no file, no temporary, no folders made for it
    keep = tmp_path / "keep.txt"
    write_text(keep, "old")
    with pytest.raises(ArithmeticError):
        write_with(keep, writer)
    assert keep.read_text() == "old" and list(tmp_path.iterdir()) == [keep]


# ---- non-finite guard -------------------------------------------------------------------------


@needs_data
def test_absurd_lr_stops_with_a_message_and_no_checkpoint(tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TSVQ_DATA_DIR", str(DATA_DIR))
    rc, _out, err = run_cli([_fill(a, tmp_path) for a in ILL] + ["--lr", "1e30"])
    assert rc == 1, err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert "NaN or inf in epoch 1" in err and "no model had been saved" in err
    assert "--lr (was 1e+30)" in err
    assert not list(tmp_path.rglob("*.pth"))


def test_huge_values_in_epoch_2_keep_the_epoch_1_checkpoint(tmp_path: Path) -> None:
    # 400 rows, one channel; rows 150-152 hold 1e20: finite, but their square is not.
    values = np.sin(np.arange(400) / 5.0)
    values[150:153] = 1e20
    lines = ["date,OT"] + [f"2020-01-01 {i // 60:02d}:{i % 60:02d}:00,{float(v)!r}"
                           for i, v in enumerate(values)]
    (tmp_path / "spiky.csv").write_text("\n".join(lines) + "\n")
    # training windows are rows 0..279 cut in 16s: 265 series, windows 135..152 see the spike.
    # Pick a seed whose epoch 1 (2 batches of 8) misses them and whose epoch 2 hits one.
    spiky = set(range(135, 153))
    seed = next(s for s in range(1000)
                if not spiky & set(epoch_order(265, s, 1)[:16].tolist())
                and spiky & set(epoch_order(265, s, 2)[:16].tolist()))
    save = tmp_path / "out"
    rc, out, err = run_cli([
        "train", "--dset", "custom", "--data_path", str(tmp_path / "spiky.csv"),
        "--context_points", "16", "--batch_size", "8", "--max_steps_per_epoch", "2",
        "--n_epochs", "3", "--scaler", "none", "--revin", "0", "--seed", str(seed),
        "--save_path", str(save)])
    assert rc == 1, err
    assert "Epoch   1/3" in out and "Epoch   2/3" not in out
    assert "NaN or inf in epoch 2" in err and err.count("\n") == 1
    best = save / "custom" / "vqvae_cw16_ps16_ed32_cf4_cb256_model1.pth"
    assert str(best) in err
    state = checkpoint.load(best)
    assert state["epoch"] == 0  # epoch 1, counted from 0 as the original does
    assert all(torch.isfinite(t).all() for t in state["model_state_dict"].values()
               if t.is_floating_point())
    assert checkpoint.load(best.with_name(best.stem + "_last.pth"))["epoch"] == 0
