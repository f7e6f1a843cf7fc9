"""The bad-input matrix, one table: each row is a command line that must end with exit status 2,
one line on stderr naming the value, no traceback and no file written. Each command adds its
rows to CASES; `setup` makes the files a row needs; `kind` names the class of fault
(docs/robustness.md). A few rows run again as a real process, and the specification's script.
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import re
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch

from tsvq.cli.main import build_parser
from tsvq.config import TrainConfig
from tsvq.data.registry import REGISTRY
from tsvq.data.windows import DataSpec, Scaler
from tsvq.model.vqvae import VQVAE, ModelConfig
from tsvq.run import checkpoint
from tsvq.run.checkpoint import DataRecord, ResumeState, RunRecord

TRAIN = (
    "train",
    "--context_points",
    "96",
    "--n_epochs",
    "1",
    "--max_steps_per_epoch",
    "1",
    "--save_path",
    "{tmp}/out",
)
ILL = (*TRAIN, "--dset", "illness")
CUSTOM = (*TRAIN, "--dset", "custom", "--data_path", "{tmp}/bad.csv")
NAME = "vqvae_cw96_ps16_ed32_cf4_cb256_model1"  # the files of these runs (context 96)
D_NAME = "vqvae_d_cw96_ps16_ed32_cf4_cb256_model1"  # of a run on d.csv
LAST = f"out/illness/{NAME}_last.pth"


def _put(rel: str, content: bytes) -> Callable[[Path], None]:
    def setup(tmp: Path) -> None:
        (tmp / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp / rel).write_bytes(content)

    return setup


def _put_ckpt(
    rel: str, payload: Callable[[Path], object], protocol: int = 2
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
    data = DataRecord(
        spec,
        Scaler("standard", np.zeros(7, np.float32), np.ones(7, np.float32)),
        tuple("abcdefg"),
        7,
    )
    resume = ResumeState({}, {}, {}, torch.get_rng_state(), [], 1.0, 1, 0)
    record = RunRecord(model_cfg, data, TrainConfig(), {}, 0, 1.0, 1.0, {}, resume=resume)
    return lambda tmp: checkpoint.payload(record, VQVAE(model_cfg))


def _edited(change: Callable[[dict], object], digest: bool = True) -> Callable[[Path], None]:
    """x.pth: a genuine record (with its digest) edited by `change`, digest kept or deleted."""

    def payload(tmp: Path) -> dict:
        raw = _state()(tmp)
        if not digest:
            del raw["tsvq"][checkpoint.DIGEST]
        change(raw)
        return raw

    return _put_ckpt("x.pth", payload)


def _with_code(rel: str) -> Callable[[Path, type], None]:
    """`rel`: a genuine record that also carries code (an `evil` object, made by the fixture)."""

    def plant(tmp: Path, evil: type) -> None:
        _put_ckpt(rel, lambda tmp: {**_state()(tmp), "x": evil(tmp / "PWNED")})(tmp)

    return plant


def _exported(change: Callable[[Path], object], **cfg: object) -> Callable[[Path], None]:
    """tok/: the export of a genuine record, then `change`d (given the folder)."""

    def setup(tmp: Path) -> None:
        from tsvq.tokens.tokenizer import Tokenizer

        _put_ckpt("x.pth", _state(**cfg))(tmp)
        Tokenizer.from_pretrained(tmp / "x.pth").save_pretrained(tmp / "tok")
        (tmp / "x.pth").unlink()
        change(tmp / "tok")

    return setup


def _json_edit(path: Path, change: Callable[[dict], object]) -> None:
    d = json.loads(path.read_text())
    change(d)
    path.write_text(json.dumps(d))


def _set(**values: object) -> Callable[[dict], object]:
    return lambda d: d.update(values)


def _unsealed(folder: Path) -> None:
    """model.safetensors saved again without tsvq's metadata: a folder read by its schema alone."""
    from safetensors.torch import load_file, save_file

    save_file(load_file(folder / "model.safetensors"), folder / "model.safetensors")


def _csv_rows(header: str, extra: str = "", rows: int = 120) -> bytes:
    lines = [header] + [
        f"2020-01-01 {i // 60:02d}:{i % 60:02d}:00,{i % 7},{i % 5},{i % 3}{extra}"
        for i in range(rows)
    ]
    return ("\n".join(lines) + "\n").encode()


@dataclass(frozen=True)
class Case:
    argv: tuple[str, ...]  # "{tmp}" stands for the test's folder
    needle: str  # must be in the one line on stderr: the value, or the path
    setup: Callable[[Path], None] | None = None
    data: bool = False  # needs the benchmark data
    kind: str = "bad value"  # the class of fault the row covers (docs/robustness.md)
    plant: Callable[[Path, type], None] | None = None  # writes a file carrying code (`evil`)


# the commands that read a checkpoint, each with its other required flags
CKPT_COMMANDS = {
    "eval": ("eval",),
    "plot": ("plot", "--out", "{tmp}/plots"),
    "encode": ("encode", "--split", "test", "--out", "{tmp}/t.npz"),
    "decode": ("decode", "--tokens", "{tmp}/t.npz", "--out", "{tmp}/x.npz"),
    "export": ("export", "--out", "{tmp}/exported"),
}
BAD_CKPTS = {
    "missing": ("{tmp}/x.pth", {}),
    "text file": ("not a torch checkpoint", {"setup": _put("x.pth", b"not a checkpoint\n")}),
    "not tsvq": (
        "not a tsvq checkpoint",
        {"setup": _put_ckpt("x.pth", lambda tmp: {"w": torch.ones(2)})},
    ),
    "carrying code": ("posix.system", {"plant": _with_code("x.pth")}),
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
    "train compression_factor 5": Case((*ILL, "--compression_factor", "5"), "compression_factor=5"),
    "train compression_factor 12 with patch_size 16": Case(
        (*ILL, "--compression_factor", "12"), "compression_factor=12 needs patch_size"
    ),
    "train patch_size 7 with context_points 96": Case((*ILL, "--patch_size", "7"), "patch_size=7"),
    "train odd block_hidden_size": Case((*ILL, "--block_hidden_size", "3"), "got 3"),
    "train ema_decay 1.5": Case((*ILL, "--ema_decay", "1.5"), "1.5"),
    "train custom without data_path": Case((*TRAIN, "--dset", "custom"), "--data_path"),
    "train channel out of range": Case((*ILL, "--channel", "7"), "channel=7", data=True),
    "train target missing (S)": Case(
        (*ILL, "--features", "S", "--target", "NOPE"), "'NOPE'", data=True
    ),
    "train window longer than the data": Case(
        (*ILL, "--context_points", "1024"), "context_points=1024", data=True
    ),
    "train dataset absent": Case(
        (*ILL, "--root_path", "{tmp}/empty"), "tsvq data download illness"
    ),
    **(
        {}
        if torch.cuda.is_available()
        else {"train device cuda without one": Case((*ILL, "--device", "cuda"), "cuda", data=True)}
    ),
    # -- train: data files (and each kind of bad CSV file: test_bad_csv below)
    "train csv missing": Case(CUSTOM, "{tmp}/bad.csv"),
    "train csv too short for the window": Case(
        CUSTOM, "context_points=96", _put("bad.csv", _sine_csv(120))
    ),
    "train csv without the target column": Case(
        (*CUSTOM, "--features", "MS"), "'OT'", _put("bad.csv", _sine_csv(400, "a,b"))
    ),
    # -- train: paths
    "train save_path is a file": Case(
        (*ILL, "--save_path", "{tmp}/afile"), "{tmp}/afile", _put("afile", b"x")
    ),
    "train save_path below a file": Case(
        (*ILL, "--save_path", "{tmp}/afile/sub"), "{tmp}/afile", _put("afile", b"x")
    ),
    "train checkpoint path is a folder": Case(
        ILL,
        f"{NAME}.pth is a directory",
        lambda tmp: (tmp / f"out/illness/{NAME}.pth").mkdir(parents=True),
        data=True,
    ),
    # -- train --resume: checkpoints missing, corrupt, foreign, carrying code, other settings
    "train resume without a last state": Case(
        (*ILL, "--resume"), "no last-state checkpoint", data=True
    ),
    "train resume empty file": Case(
        (*ILL, "--resume"), "truncated, corrupt", _put(LAST, b""), data=True
    ),
    "train resume truncated": Case(
        (*ILL, "--resume"),
        "truncated, corrupt",
        lambda tmp: (
            _put_ckpt(LAST, _state())(tmp),
            (tmp / LAST).write_bytes((tmp / LAST).read_bytes()[:300]),
        ),
        data=True,
    ),
    "train resume text file": Case(
        (*ILL, "--resume"), "not a torch checkpoint", _put(LAST, b"not a checkpoint\n"), data=True
    ),
    "train resume not tsvq": Case(
        (*ILL, "--resume"),
        "not a tsvq checkpoint",
        _put_ckpt(LAST, lambda tmp: {"w": torch.ones(2)}),
        data=True,
    ),
    "train resume best instead of last": Case(
        (*ILL, "--resume"),
        "not a last-state checkpoint",
        _put_ckpt(
            LAST,
            lambda tmp: {
                **_state()(tmp),
                "tsvq": {  # no digest: it mixes 2 files
                    k: v for k, v in _state()(tmp)["tsvq"].items() if k not in ("resume", "digest")
                },
            },
        ),
        data=True,
    ),
    "train resume other configuration": Case(
        (*ILL, "--resume"),
        "block_hidden_size=32, now 64",
        _put_ckpt(LAST, _state(block_hidden_size=32)),
        data=True,
    ),
    "train resume carrying code": Case(
        (*ILL, "--resume"),
        "posix.system",
        data=True,
        plant=_with_code(LAST),
    ),
    "train resume bare pickle carrying code": Case(
        (*ILL, "--resume"),
        "not a torch checkpoint",
        data=True,
        plant=lambda tmp, evil: _put(LAST, pickle.dumps({"x": evil(tmp / "PWNED")}, protocol=2))(
            tmp
        ),
    ),
    # -- commands that read a checkpoint: missing, not a checkpoint, foreign, carrying code
    **{
        f"{cmd} checkpoint {kind}": Case((*argv, "--checkpoint", "{tmp}/x.pth"), needle, **files)
        for cmd, argv in CKPT_COMMANDS.items()
        for kind, (needle, files) in BAD_CKPTS.items()
    },
    "eval split unknown": Case(("eval", "--checkpoint", "{tmp}/x.pth", "--split", "dev"), "'dev'"),
    "eval checkpoint with an empty model": Case(
        ("eval", "--checkpoint", "{tmp}/x.pth"),
        "does not fit",
        _put_ckpt("x.pth", lambda tmp: {**_state()(tmp), "model_state_dict": {}}),
    ),
    "plot out is a file": Case(
        ("plot", "--checkpoint", "{tmp}/x.pth", "--out", "{tmp}/afile"),
        "{tmp}/afile",
        lambda tmp: (_put("afile", b"x")(tmp), _put_ckpt("x.pth", _state())(tmp)),
    ),
    # -- data
    "data without an action": Case(("data",), "list|download"),
    "data unknown action": Case(("data", "fetch"), "'fetch'"),
    "data download without names": Case(("data", "download"), "NAME"),
    "data download unknown name": Case(("data", "download", "ettx9"), "'ettx9'"),
    "data download bad scheme": Case(
        ("data", "download", "illness", "--root_path", "{tmp}/d", "--url", "ftp://example.org/"),
        "'ftp://example.org/'",
    ),
    "data download not a URL": Case(
        ("data", "download", "illness", "--root_path", "{tmp}/d", "--url", "nowhere"), "'nowhere'"
    ),
    "data download retries -1": Case(("data", "download", "illness", "--retries=-1"), "got -1"),
    "data download timeout 0": Case(("data", "download", "illness", "--timeout", "0"), "got 0"),
    "data download absent file URL": Case(
        ("data", "download", "illness", "--root_path", "{tmp}/d", "--url", "file://{tmp}/no/"),
        "{tmp}/no/national_illness.csv",
    ),
    "data download refused connection": Case(
        (
            "data",
            "download",
            "illness",
            "--root_path",
            "{tmp}/d",
            "--retries",
            "0",
            "--url",
            "http://127.0.0.1:9/",
        ),
        "127.0.0.1:9",
    ),
    # -- round 2 (issue 12): each row names its class
    "train data_path with a named dataset": Case(
        (*ILL, "--data_path", "x.csv"), "--data_path has no effect", kind="silent flag"
    ),
    "train ema_decay with quantizer vq": Case(
        (*ILL, "--quantizer", "vq", "--ema_decay", "0.9"),
        "--ema_decay has no effect",
        kind="silent flag",
    ),
    "train channel with features S": Case(
        (*ILL, "--features", "S", "--channel", "0"), "--channel has no effect", kind="silent flag"
    ),
    "train patience not below n_epochs": Case(
        (*ILL, "--patience", "5"), "--patience has no effect", kind="silent flag"
    ),
    "train root_path with an absolute data_path": Case(
        (*CUSTOM, "--root_path", "{tmp}"), "--root_path has no effect", kind="silent flag"
    ),
    "encode data_path with a named dataset": Case(
        (
            "encode",
            "--checkpoint",
            "{tmp}/x.pth",
            "--out",
            "{tmp}/t.npz",
            "--dset",
            "illness",
            "--data_path",
            "x.csv",
        ),
        "--data_path has no effect",
        kind="silent flag",
    ),
    "train seed beyond 2^32 - 1": Case(
        (*ILL, "--seed", "4294967296"), "4294967296", kind="numbers at extremes"
    ),
    "train seed beyond 2^64": Case(
        (*ILL, "--seed", str(2**64)), str(2**64), kind="numbers at extremes"
    ),
    "train codebook that cannot fit in memory": Case(
        (*ILL, "--num_embeddings", "1000000000"), "GiB", data=True, kind="numbers at extremes"
    ),
    "train hidden size that cannot fit in memory": Case(
        (*ILL, "--block_hidden_size", "200000"), "GiB", data=True, kind="numbers at extremes"
    ),
    "train minmax scaler overflows float32": Case(
        (*CUSTOM, "--scaler", "minmax"),
        "overflows float32 on column 'a'",
        _put(
            "bad.csv",
            b"date,a,OT\n"
            + b"".join(
                (
                    f"2020-01-01 {i // 60:02d}:{i % 60:02d}:00,{3e38 if i % 2 else -3e38},{i}\n"
                ).encode()
                for i in range(400)
            ),
        ),
        kind="numbers at extremes",
    ),
    "train data file is a symlink loop": Case(
        CUSTOM,
        "symbolic link that loops",
        lambda tmp: (
            (tmp / "bad.csv").symlink_to(tmp / "loop"),
            (tmp / "loop").symlink_to(tmp / "bad.csv"),
        ),
        kind="message names the right thing",
    ),
    "eval checkpoint is a dangling link": Case(
        ("eval", "--checkpoint", "{tmp}/x.pth"),
        "which does not exist",
        lambda tmp: (tmp / "x.pth").symlink_to(tmp / "nowhere.pth"),
        kind="message names the right thing",
    ),
    "plot history with a non-numeric cell": Case(
        ("plot", "--checkpoint", "{tmp}/x.pth", "--out", "{tmp}/plots"),
        "not a finite number",
        lambda tmp: (
            _put_ckpt("x.pth", _state())(tmp),
            _put(
                "x_history.csv",
                (
                    b"epoch,train_loss,valid_loss,train_vq_loss,valid_vq_loss,train_recon_loss,"
                    b"valid_recon_loss\n1,abc,1,1,1,1,1\n"
                ),
            )(tmp),
        ),
        kind="plot history",
    ),
    "plot history without its columns": Case(
        ("plot", "--checkpoint", "{tmp}/x.pth", "--out", "{tmp}/plots"),
        "lacks the column",
        lambda tmp: (
            _put_ckpt("x.pth", _state())(tmp),
            _put("x_history.csv", b"\x00\x01garbage\n")(tmp),
        ),
        kind="plot history",
    ),
    "plot history with no epochs": Case(
        ("plot", "--checkpoint", "{tmp}/x.pth", "--out", "{tmp}/plots"),
        "holds no epochs",
        lambda tmp: (
            _put_ckpt("x.pth", _state())(tmp),
            _put(
                "x_history.csv",
                (
                    b"epoch,train_loss,valid_loss,train_vq_loss,valid_vq_loss,train_recon_loss,"
                    b"valid_recon_loss\n"
                ),
            )(tmp),
        ),
        kind="plot history",
    ),
    # -- trust nothing a file carries (issue 12, item 1; tests/robustness/test_file_fields.py edits
    #    every field at random)
    "eval checkpoint whose dataset was edited": Case(
        ("eval", "--checkpoint", "{tmp}/x.pth"),
        "tsvq['data']['dset'] was changed",
        _edited(lambda raw: raw["tsvq"]["data"].update(dset="etth2")),
        kind="file field",
    ),
    "eval checkpoint whose dataset was edited and digest deleted": Case(
        ("eval", "--checkpoint", "{tmp}/x.pth"),
        "args['dset'] is 'illness' but tsvq.data['dset'] is 'etth2'",
        _edited(
            lambda raw: (
                raw["tsvq"]["data"].update(dset="etth2"),
                raw.update(args={"dset": "illness"}),
            ),
            digest=False,
        ),
        kind="file field",
    ),
    "eval checkpoint whose weights were edited": Case(
        ("eval", "--checkpoint", "{tmp}/x.pth"),
        "model_state_dict['encoder._conv_1.weight'] was changed",
        _edited(lambda raw: raw["model_state_dict"]["encoder._conv_1.weight"].mul_(2)),
        kind="file field",
    ),
    "eval checkpoint with a negative scale": Case(
        ("eval", "--checkpoint", "{tmp}/x.pth"),
        "scale that is not positive",
        _edited(
            lambda raw: raw["tsvq"]["data"]["scaler"]["scale"].__setitem__(0, -1.0), digest=False
        ),
        kind="file field",
    ),
    "eval checkpoint whose record was removed": Case(
        ("eval", "--checkpoint", "{tmp}/x.pth"),
        "lacks 'tsvq'",
        _edited(lambda raw: (raw.pop("tsvq"), raw.update(args={"command": "train"})), digest=False),
        kind="file field",
    ),
    "encode exported folder whose config was edited": Case(
        ("encode", "--checkpoint", "{tmp}/tok", "--split", "test", "--out", "{tmp}/t.npz"),
        "config.json['data']['features'] was changed",
        _exported(
            lambda d: _json_edit(d / "config.json", lambda c: c["data"].update(features="MS"))
        ),
        kind="file field",
    ),
    "eval exported folder whose scale is zero": Case(
        ("eval", "--checkpoint", "{tmp}/tok"),
        "scale that is not positive",
        _exported(
            lambda d: _json_edit(
                d / "config.json", lambda c: c["data"]["scaler"]["scale"].__setitem__(0, 0)
            )
        ),
        kind="file field",
    ),
    # -- one door per file kind (issue 20): what only the schema can tell in a file without a
    #    digest, and a size checked before any model is built
    "eval exported folder without a digest whose run is null": Case(
        ("eval", "--checkpoint", "{tmp}/tok"),
        "config.json['run'] is NoneType, expected a dict",
        _exported(lambda d: (_unsealed(d), _json_edit(d / "config.json", _set(run=None)))),
        kind="file field",
    ),
    "eval exported folder without a digest whose run has no epoch": Case(
        ("eval", "--checkpoint", "{tmp}/tok"),
        "config.json['run'] lacks 'epoch'",
        _exported(lambda d: (_unsealed(d), _json_edit(d / "config.json", _set(run={"a": 1})))),
        kind="file field",
    ),
    "eval checkpoint whose codebook cannot fit in memory": Case(
        ("eval", "--checkpoint", "{tmp}/x.pth"),
        "GiB",
        _edited(
            lambda raw: (
                raw["tsvq"]["model"].update(num_embeddings=10**9),
                raw["config"].update(num_embeddings=10**9),
            ),
            digest=False,
        ),
        kind="numbers at extremes",
    ),
    # -- messages name the right thing (issue 12, item 8, after the fast CSV reader)
    "eval checkpoint whose weights are of another shape": Case(
        ("eval", "--checkpoint", "{tmp}/x.pth"),
        "(12 tensors in all)",
        _edited(
            lambda raw: raw["model_state_dict"].update(
                {
                    k: torch.zeros(*[n + 1 for n in v.shape])
                    for k, v in raw["model_state_dict"].items()
                    if k.startswith("encoder.")
                }
            ),
            digest=False,
        ),
        kind="message names the right thing",
    ),
    "train csv rows with a trailing separator": Case(
        CUSTOM,
        "data row 1 has 5 fields but the header names 4 (a separator at the end",
        _put("bad.csv", _csv_rows("date,a,b,OT", ",")),
        kind="message names the right thing",
    ),
    "train csv header with a trailing separator": Case(
        CUSTOM,
        "header column 5 has no name (a separator at the end of the header?)",
        _put("bad.csv", _csv_rows("date,a,b,OT,", ",")),
        kind="message names the right thing",
    ),
    "train csv header with a missing name": Case(
        CUSTOM,
        "header column 3 has no name",
        _put("bad.csv", _csv_rows("date,a,,OT")),
        kind="message names the right thing",
    ),
    "train csv with duplicate column names": Case(
        CUSTOM,
        "the header names 'a' more than once",
        _put("bad.csv", _csv_rows("date,a,a,OT")),
        kind="message names the right thing",
    ),
    "encode csv with duplicate column names": Case(
        (
            "encode",
            "--checkpoint",
            "{tmp}/x.pth",
            "--dset",
            "custom",
            "--data_path",
            "{tmp}/bad.csv",
            "--out",
            "{tmp}/t.npz",
        ),
        "the header names 'b' more than once",
        lambda tmp: (
            _put_ckpt("x.pth", _state())(tmp),
            _put("bad.csv", _csv_rows("date,b,a,b"))(tmp),
        ),
        kind="message names the right thing",
    ),
    "decode tokens file that is a CSV": Case(
        (
            "decode",
            "--checkpoint",
            "{tmp}/x.pth",
            "--tokens",
            "{tmp}/t.npz",
            "--out",
            "{tmp}/x.npz",
        ),
        "t.npz is not a tsvq tokens file: it is not an .npz archive",
        lambda tmp: (
            _put_ckpt("x.pth", _state())(tmp),
            _put("t.npz", _csv_rows("date,a,b,OT"))(tmp),
        ),
        kind="message names the right thing",
    ),
    "decode tokens file that is an .npy": Case(
        (
            "decode",
            "--checkpoint",
            "{tmp}/x.pth",
            "--tokens",
            "{tmp}/t.npy",
            "--out",
            "{tmp}/x.npz",
        ),
        "t.npy is not a tsvq tokens file",
        lambda tmp: (_put_ckpt("x.pth", _state())(tmp), np.save(tmp / "t.npy", np.zeros(3))),
        kind="message names the right thing",
    ),
    "eval exported weights of another shape": Case(
        ("eval", "--checkpoint", "{tmp}/tok"),
        "does not fit its config.json (size mismatch)",
        _exported(
            lambda d: (
                _exported(lambda o: None, block_hidden_size=32)(d / "other"),
                os.replace(d / "other" / "tok" / "model.safetensors", d / "model.safetensors"),
                shutil.rmtree(d / "other"),
            )
        ),
        kind="message names the right thing",
    ),
    "data list root_path is a file": Case(
        ("data", "list", "--root_path", "{tmp}/afile"), "{tmp}/afile", _put("afile", b"x")
    ),
    "data download root_path is a file": Case(
        ("data", "download", "illness", "--root_path", "{tmp}/afile"),
        "{tmp}/afile",
        _put("afile", b"x"),
    ),
}


# ---- round 3 (issue 25): the files its rows plant ----

CUSTOM3 = (*TRAIN, "--dset", "custom", "--data_path", "{tmp}/d.csv")
CKPT = _put_ckpt("x.pth", _state())
ENCODE = ("encode", "--checkpoint", "{tmp}/x.pth", "--out", "{tmp}/t.npz")
ENCODE_CUSTOM = (*ENCODE, "--dset", "custom", "--data_path", "{tmp}/d.csv")


def _csv3(rows: int = 400, long_at: int | None = None, cell: str | None = None) -> bytes:
    """date,a,b,OT rows; `long_at`: that data row has one field more; `cell`: row 350's b (in
    the test split, which encode reads by default)."""
    lines = ["date,a,b,OT"]
    for i in range(1, rows + 1):
        b = cell if cell is not None and i == 350 else f"{i % 5}"
        extra = ",7" if i == long_at else ""
        lines.append(f"2020-01-{1 + i // 24:02d} {i % 24:02d}:00:00,{i % 7},{b},{i % 3}{extra}")
    return ("\n".join(lines) + "\n").encode()


def _both(*setups: Callable[[Path], object]) -> Callable[[Path], None]:
    def setup(tmp: Path) -> None:
        for s in setups:
            s(tmp)

    return setup


def _fifo(rel: str) -> Callable[[Path], None]:
    def setup(tmp: Path) -> None:
        (tmp / rel).parent.mkdir(parents=True, exist_ok=True)
        os.mkfifo(tmp / rel)

    return setup


def _edited_illness(tmp: Path) -> None:
    """{tmp}/d/illness/national_illness.csv: the benchmark file with one digit changed."""
    spec = REGISTRY["illness"]
    data = bytearray((Path(os.environ["TSVQ_DATA_DIR"]) / spec.file).read_bytes())
    i = data.rindex(b".") + 1
    data[i] = ord("1") if data[i] != ord("1") else ord("2")
    _put(f"d/{spec.file}", bytes(data))(tmp)


def _link(rel: str, to: str, hard: bool = False) -> Callable[[Path], None]:
    def setup(tmp: Path) -> None:
        (os.link if hard else os.symlink)(tmp / to, tmp / rel)

    return setup


def _nested(depth: int) -> list:
    value: list = []
    for _ in range(depth - 1):
        value = [value]
    return value


TRACEBACK = "traceback left"


def _zip(rel: str, members: dict[str, bytes]) -> Callable[[Path], None]:
    def setup(tmp: Path) -> None:
        with zipfile.ZipFile(tmp / rel, "w") as archive:
            for name, data in members.items():
                archive.writestr(name, data)

    return setup


EDITED = "is not the registered illness file (wrong sha256"
COMMANDS_AGREE = "commands agree"
NOT_AN_INPUT = "output replaces an input"
PATH_RULE = "one path rule"

# ---- round 3 (issue 25): one block per class of docs/robustness.md's round-3 table ----
CASES.update(
    {
        # -- an output name that promises another format than the one written
        **{
            f"{cmd} --out {name}": Case(
                (*argv, "--out", f"{{tmp}}/{name}"),
                f"this command writes a numpy .npz archive, not {what}",
                CKPT,
                kind="message names the right thing",
            )
            for cmd, argv in (
                ("encode", ENCODE[:3]),
                ("decode", ("decode", "--checkpoint", "{tmp}/x.pth", "--tokens", "{tmp}/t.npz")),
            )
            for name, what in (("w.csv", ".csv"), ("w", "a file without a suffix"))
        },
        # -- 1. every command reads data through the same door
        **{
            f"{cmd} csv with a long row far down": Case(
                argv,
                "data row 300 has 5 fields but the header names 4",
                _both(CKPT, _put("d.csv", _csv3(long_at=300))),
                kind=COMMANDS_AGREE,
            )
            for cmd, argv in (("train", CUSTOM3), ("encode", ENCODE_CUSTOM))
        },
        **{
            f"{cmd} registered file that fails its checksum": Case(
                (*argv, "--root_path", "{tmp}/d"),
                EDITED,
                _both(CKPT, _edited_illness),
                data=True,
                kind=COMMANDS_AGREE,
            )
            for cmd, argv in (
                ("train", (*TRAIN, "--dset", "illness")),
                ("eval", ("eval", "--checkpoint", "{tmp}/x.pth")),
                ("encode", ENCODE),
            )
        },
        "encode 1e400 with --missing interpolate (a number, not a gap)": Case(
            (*ENCODE_CUSTOM, "--missing", "interpolate"),
            "column 'b' data row 350 holds '1e400', outside the float32 range",
            _both(CKPT, _put("d.csv", _csv3(cell="1e400"))),
            kind=COMMANDS_AGREE,
        ),
        **{
            f"{cmd} data file is a FIFO": Case(
                argv,
                "d.csv is a FIFO (named pipe), not a regular file",
                _both(CKPT, _fifo("d.csv")),
                kind=COMMANDS_AGREE,
            )
            for cmd, argv in (("train", CUSTOM3), ("encode", ENCODE_CUSTOM))
        },
        # -- 2. an output never replaces an input or a special file
        "encode out is the checkpoint": Case(
            ("encode", "--checkpoint", "{tmp}/x.pth", "--out", "{tmp}/x.pth"),
            "--out {tmp}/x.pth is --checkpoint {tmp}/x.pth, an input of this command",
            CKPT,
            kind=NOT_AN_INPUT,
        ),
        "encode out is the data file": Case(
            (
                "encode",
                "--checkpoint",
                "{tmp}/x.pth",
                "--dset",
                "custom",
                "--data_path",
                "{tmp}/d.csv",
            )
            + ("--out", "{tmp}/d.csv"),
            "--out {tmp}/d.csv is the data file {tmp}/d.csv",
            _both(CKPT, _put("d.csv", _csv3())),
            kind=NOT_AN_INPUT,
        ),
        "encode out is a link to the checkpoint": Case(
            ("encode", "--checkpoint", "{tmp}/x.pth", "--out", "{tmp}/t.npz"),
            "--out {tmp}/t.npz is --checkpoint",
            _both(CKPT, _link("t.npz", "x.pth")),
            kind=NOT_AN_INPUT,
        ),
        "encode out is a hard link to the data file": Case(
            ENCODE_CUSTOM,
            "--out {tmp}/t.npz is the data file {tmp}/d.csv",
            _both(CKPT, _put("d.csv", _csv3()), _link("t.npz", "d.csv", hard=True)),
            kind=NOT_AN_INPUT,
        ),
        "encode out is a character device": Case(
            ("encode", "--checkpoint", "{tmp}/x.pth", "--out", "/dev/null"),
            "--out /dev/null is a character device, not a regular file",
            CKPT,
            kind=NOT_AN_INPUT,
        ),
        "decode out is the tokens file": Case(
            (
                "decode",
                "--checkpoint",
                "{tmp}/x.pth",
                "--tokens",
                "{tmp}/t.npz",
                "--out",
                "{tmp}/t.npz",
            ),
            "--out {tmp}/t.npz is --tokens {tmp}/t.npz",
            _both(CKPT, _put("t.npz", b"tokens")),
            kind=NOT_AN_INPUT,
        ),
        "decode out is a FIFO": Case(
            (
                "decode",
                "--checkpoint",
                "{tmp}/x.pth",
                "--tokens",
                "{tmp}/t.npz",
                "--out",
                "{tmp}/p.npz",
            ),
            "--out {tmp}/p.npz is a FIFO (named pipe), not a regular file",
            _both(CKPT, _put("t.npz", b"tokens"), _fifo("p.npz")),
            kind=NOT_AN_INPUT,
        ),
        "export out is the folder it reads": Case(
            ("export", "--checkpoint", "{tmp}/tok", "--out", "{tmp}/tok"),
            "--out {tmp}/tok holds --checkpoint {tmp}/tok, an input of this command",
            _put("tok/config.json", b"{}"),
            kind=NOT_AN_INPUT,
        ),
        "export out holds the checkpoint": Case(
            ("export", "--checkpoint", "{tmp}/o/x.pth", "--out", "{tmp}/o"),
            "--out {tmp}/o holds --checkpoint {tmp}/o/x.pth",
            _put_ckpt("o/x.pth", _state()),
            kind=NOT_AN_INPUT,
        ),
        "plot out would replace the checkpoint": Case(
            ("plot", "--checkpoint", "{tmp}/p/code_usage.png", "--out", "{tmp}/p"),
            "--out {tmp}/p/code_usage.png is --checkpoint",
            _put_ckpt("p/code_usage.png", _state()),
            kind=NOT_AN_INPUT,
        ),
        # a run on d.csv is written to out/custom/d/vqvae_d_cw96_...: no data file is ever named
        # like one of its own outputs, but a hard link to it can lie there
        "train data file is one of its outputs": Case(
            (*TRAIN, "--dset", "custom", "--data_path", "{tmp}/d.csv"),
            f"--save_path {{tmp}}/out/custom/d/{D_NAME}_history.csv is the data file",
            _both(
                _put("d.csv", _csv3()),
                _put("out/custom/d/.keep", b""),
                _link(f"out/custom/d/{D_NAME}_history.csv", "d.csv", hard=True),
            ),
            kind=NOT_AN_INPUT,
        ),
        "train output that is a FIFO": Case(
            (*TRAIN, "--dset", "custom", "--data_path", "{tmp}/d.csv"),
            f"{D_NAME}_history.csv is a FIFO (named pipe), not a regular file",
            _both(_put("d.csv", _csv3()), _fifo(f"out/custom/d/{D_NAME}_history.csv")),
            kind=NOT_AN_INPUT,
        ),
        # -- 3. one path rule
        "train relative data_path lies under root_path only": Case(
            (*TRAIN, "--dset", "custom", "--root_path", "{tmp}/r", "--data_path", "d.csv"),
            "data file not found: {tmp}/r/d.csv",
            _put("d.csv", _csv3()),  # in the working folder: not read
            kind=PATH_RULE,
        ),
        # -- 7. no traceback: nesting beyond what any tsvq file holds (or Python's recursion limit)
        "train config nested deeper than the recursion limit": Case(
            ("train", "--config", "{tmp}/c.json"),
            "--config {tmp}/c.json is nested deeper than Python's recursion limit",
            _put("c.json", b'{"lr": ' + b"[" * 5000 + b"]" * 5000 + b"}"),
            kind=TRACEBACK,
        ),
        "train config nested 40 deep": Case(
            ("train", "--config", "{tmp}/c.json"),
            "--config {tmp}/c.json is nested more than 32 levels deep",
            _put("c.json", b'{"lr": ' + b"[" * 40 + b"]" * 40 + b"}"),
            kind=TRACEBACK,
        ),
        "eval checkpoint with a value nested 40 deep": Case(
            ("eval", "--checkpoint", "{tmp}/x.pth"),
            "checkpoint {tmp}/x.pth is nested more than 32 levels deep",
            _put_ckpt("x.pth", lambda tmp: {**_state()(tmp), "args": {"lr": _nested(40)}}),
            kind=TRACEBACK,
        ),
        "encode exported config nested deeper than the recursion limit": Case(
            (*ENCODE[:2], "{tmp}/tok", *ENCODE[3:]),
            "{tmp}/tok/config.json is nested deeper than Python's recursion limit",
            _put("tok/config.json", b"[" * 5000 + b"]" * 5000),
            kind=TRACEBACK,
        ),
        # -- 10. messages that name the right thing
        "eval checkpoint that is a zip of something else": Case(
            ("eval", "--checkpoint", "{tmp}/x.pth"),
            "is a zip archive but not a torch checkpoint: it lacks data.pkl and a version record "
            "(it holds notes.txt)",
            _zip("x.pth", {"notes.txt": b"hello"}),
            kind="message names the right thing",
        ),
        "train dead_code_threshold with dead_code_restart 0": Case(
            (
                *TRAIN,
                "--dset",
                "illness",
                "--dead_code_restart",
                "0",
                "--dead_code_threshold",
                "0.1",
            ),
            "--dead_code_threshold has no effect with --dead_code_restart 0",
            kind="silent flag",
        ),
        "train target with features M on ETT": Case(
            (*TRAIN, "--dset", "etth1", "--target", "HUFL"),
            "--target has no effect with --features M on etth1",
            kind="silent flag",
        ),
        "eval checkpoint is a character device": Case(
            ("eval", "--checkpoint", "/dev/null"),
            "tokenizer /dev/null is a character device, not a regular file",
            kind="message names the right thing",
        ),
        "decode tokens file is a FIFO": Case(
            (
                "decode",
                "--checkpoint",
                "{tmp}/x.pth",
                "--tokens",
                "{tmp}/p",
                "--out",
                "{tmp}/x.npz",
            ),
            "tokens file {tmp}/p is a FIFO (named pipe), not a regular file",
            _both(CKPT, _fifo("p")),
            kind="message names the right thing",
        ),
    }
)


def _fill(text: str, tmp: Path) -> str:
    return text.replace("{tmp}", str(tmp))


# -- shipped names, zero-shot evaluation, fine-tuning (issue 23)
ETTH1 = (*TRAIN, "--dset", "etth1")
CASES.update(
    {
        "eval a tsvq/ name that does not ship": Case(
            ("eval", "--checkpoint", "tsvq/no-such-tokenizer"),
            "tsvq/no-such-tokenizer is not a tokenizer shipped with tsvq: the shipped ones are",
            kind="message names the right thing",
        ),
        "train init a tsvq/ name that does not ship": Case(
            (*ETTH1, "--init", "tsvq/no-such-tokenizer"),
            "tsvq/no-such-tokenizer is not a tokenizer shipped with tsvq",
        ),
        "train init a tokenizer that is not there": Case(
            (*ETTH1, "--init", "{tmp}/nothing.pth"), "{tmp}/nothing.pth"
        ),
        "train init a tokenizer of another factor": Case(
            (*ETTH1, "--init", "{tmp}/tok", "--compression_factor", "8"),
            "size mismatch): it has --compression_factor 4 (this run: 8)",
            _exported(lambda d: None),
            kind="incompatible combination",
        ),
        "train init a tokenizer of another codebook and width": Case(
            (*ETTH1, "--init", "{tmp}/tok", "--num_embeddings", "64", "--block_hidden_size", "32"),
            "--num_embeddings 256 (this run: 64), --block_hidden_size 64 (this run: 32)",
            _exported(lambda d: None),
            kind="incompatible combination",
        ),
        "eval zero-shot of a tokenizer trained without RevIN": Case(
            ("eval", "--checkpoint", "{tmp}/tok", "--dset", "etth2"),
            "was trained without RevIN (tsvq train --revin 0)",
            _exported(lambda d: None, revin=False),
            kind="incompatible combination",
        ),
        "forecast train on a tokenizer trained without RevIN": Case(
            ("forecast", "train", "--checkpoint", "{tmp}/tok", "--context_points", "96"),
            "was trained without RevIN (tsvq train --revin 0); train one with tsvq train --revin 1",
            _exported(lambda d: None, revin=False),
            kind="incompatible combination",
        ),
        "eval zero-shot on custom without data_path": Case(
            ("eval", "--checkpoint", "{tmp}/tok", "--dset", "custom"),
            "--dset custom needs --data_path",
            _exported(lambda d: None),
        ),
        "eval zero-shot data_path with a named dataset": Case(
            ("eval", "--checkpoint", "{tmp}/tok", "--dset", "etth2", "--data_path", "{tmp}/d.csv"),
            "--data_path has no effect with --dset etth2",
            _exported(lambda d: None),
            kind="incompatible combination",
        ),
    }
)


# ---- issue 21: a user's own file read as it is (columns, a long layout, Parquet, gaps) ----

USER = (*TRAIN, "--dset", "custom", "--data_path", "{tmp}/u.csv")


def _labelled(rows: int = 400) -> bytes:
    """date,a,b,label: two value columns and a text one."""
    lines = ["date,a,b,label"] + [
        f"2020-01-{1 + i // 24:02d} {i % 24:02d}:00:00,{np.sin(i / 5):.4f},{i % 7},"
        f"{'up' if i % 2 else 'down'}"
        for i in range(rows)
    ]
    return ("\n".join(lines) + "\n").encode()


def _long(ids: list[tuple[str, int]], swap_in: str | None = None) -> bytes:
    """item_id,timestamp,v rows, `n` days per id; `swap_in`: that id's rows 2 and 3 swapped."""
    lines = ["item_id,timestamp,v"]
    for key, n in ids:
        days = list(range(n))
        if key == swap_in:
            days[1], days[2] = days[2], days[1]
        lines += [
            f"{key},2021-01-{1 + d // 24:02d}T{d % 24:02d}:00,{np.cos(d / 3):.4f}" for d in days
        ]
    return ("\n".join(lines) + "\n").encode()


def _custom_ckpt(**read: object) -> Callable[[Path], None]:
    """x.pth: a run record on {tmp}/u.csv's columns a and b, read as `read` says."""

    def payload(tmp: Path) -> dict:
        model_cfg = ModelConfig(context_points=96, seed=2021)
        spec = DataSpec("custom", None, str(tmp / "u.csv"), 96, **read)  # type: ignore[arg-type]
        scaler = Scaler("standard", np.zeros(2, np.float32), np.ones(2, np.float32))
        data = DataRecord(spec, scaler, ("a", "b"), 2)
        record = RunRecord(model_cfg, data, TrainConfig(), {}, 0, 1.0, 1.0, {})
        return checkpoint.payload(record, VQVAE(model_cfg))

    return _put_ckpt("x.pth", payload)


def _export_x(tmp: Path) -> None:
    from tsvq.tokens.tokenizer import Tokenizer

    Tokenizer.from_pretrained(tmp / "x.pth").save_pretrained(tmp / "tok")


def _blank_b(rows: int = 400) -> bytes:
    """date,a,b with every cell of b blank."""
    lines = ["date,a,b"] + [
        f"2020-01-{1 + i // 24:02d} {i % 24:02d}:00:00,{i % 9}," for i in range(rows)
    ]
    return ("\n".join(lines) + "\n").encode()


CASES.update(
    {
        "train a text column not left out": Case(
            USER, "--exclude", _put("u.csv", _labelled()), kind="user file"
        ),
        "train --columns naming a missing column": Case(
            (*USER, "--columns", "a,nope"),
            "--columns nope names no column",
            _put("u.csv", _labelled()),
            kind="user file",
        ),
        "train --exclude naming a missing column": Case(
            (*USER, "--exclude", "nope"),
            "--exclude nope names no column",
            _put("u.csv", _labelled()),
            kind="user file",
        ),
        "train --columns leaving nothing": Case(
            (*USER, "--columns", "a", "--exclude", "a"),
            "no value column left",
            _put("u.csv", _labelled()),
            kind="user file",
        ),
        "train --columns with a registered dataset": Case(
            (*ILL, "--columns", "OT"),
            "--columns has no effect with --dset illness",
            kind="silent flag",
        ),
        "train --id_column that is no column": Case(
            (*USER, "--id_column", "series"),
            "--id_column 'series' is not a column",
            _put("u.csv", _long([("a", 200), ("b", 200)])),
            kind="user file",
        ),
        "train --id_column with one row per id": Case(
            (*USER, "--id_column", "date", "--exclude", "label"),
            "one row per series",
            _put("u.csv", _labelled()),
            kind="user file",
        ),
        "train long file with timestamps unsorted within an id": Case(
            (*USER, "--id_column", "item_id"),
            "series 'b': timestamps go backwards at its row 3 (2021-01-01T01:00:00.000000 after",
            _put("u.csv", _long([("a", 200), ("b", 200)], swap_in="b")),
            kind="user file",
        ),
        "train --timestamp_column that is no column": Case(
            (*USER, "--timestamp_column", "when"),
            "--timestamp_column 'when' is not a column",
            _put("u.csv", _labelled()),
            kind="user file",
        ),
        "train a .parquet that is not Parquet": Case(
            (*TRAIN, "--dset", "custom", "--data_path", "{tmp}/u.parquet"),
            "is not a Parquet file",
            _put("u.parquet", _labelled()),
            kind="user file",
        ),
        "train a truncated Parquet file": Case(
            (*TRAIN, "--dset", "custom", "--data_path", "{tmp}/u.parquet"),
            "cannot read the Parquet file",
            _put("u.parquet", b"PAR1" + b"\x00" * 64),
            kind="user file",
        ),
        "train --missing interpolate on a column without values": Case(
            (*USER, "--missing", "interpolate"),
            "column 'b' has no value at all",
            _put("u.csv", _blank_b()),
            kind="user file",
        ),
        "train --missing bogus": Case((*USER, "--missing", "bogus"), "'bogus'"),
        # eval, plot and encode read the file as the run did; their refusals name only their
        # own flags (not train's --context_points, --scaler, --dset)
        **{
            f"{cmd} a custom run's file too short for its window": Case(
                (*CKPT_COMMANDS[cmd], "--checkpoint", "{tmp}/x.pth"),
                "too short for context_points=96",
                _both(_custom_ckpt(exclude_columns=("label",)), _put("u.csv", _labelled(120))),
                kind="user file",
            )
            for cmd in ("eval", "plot")
        },
        "encode a custom run's file without a column it chose": Case(
            (*ENCODE, "--split", "all"),
            "lacks the column(s) b the tokenizer's run chose",
            _both(
                _custom_ckpt(value_columns=("a", "b")),
                _put("u.csv", _labelled().replace(b",b,", b",c,", 1)),
            ),
            kind="user file",
        ),
        "eval --data_path for a benchmark's tokenizer": Case(
            ("eval", "--checkpoint", "{tmp}/x.pth", "--data_path", "{tmp}/u.csv"),
            "--data_path is for a tokenizer trained on a file of its own",
            _both(CKPT, _put("u.csv", _labelled())),
        ),
        "plot an exported custom tokenizer without --data_path": Case(
            ("plot", "--checkpoint", "{tmp}/tok", "--out", "{tmp}/plots"),
            "give --data_path FILE",
            _both(
                _custom_ckpt(exclude_columns=("label",)),
                _export_x,
            ),
            kind="user file",
        ),
    }
)


def _rows(names: list[str]) -> list:
    """The rows named, those reading the benchmark data marked so."""
    return [
        pytest.param(n, marks=pytest.mark.dataset("illness")) if CASES[n].data else n for n in names
    ]


def _csv_case(bad_file: tuple[bytes, str]) -> Case:
    content, needle = bad_file
    return Case(CUSTOM, needle, _put("bad.csv", content))


def _plant(case: Case, tmp: Path, evil: type) -> None:
    if case.setup:
        case.setup(tmp)
    if case.plant:
        case.plant(tmp, evil)


def _check(case: Case, tmp_path: Path, run_cli, tree, evil: type) -> None:
    _plant(case, tmp_path, evil)
    before = tree(tmp_path)
    rc, _out, err = run_cli([_fill(a, tmp_path) for a in case.argv])
    assert rc == 2, (rc, err)
    assert err.endswith("\n") and err.count("\n") == 1, err
    assert "Traceback" not in err
    assert _fill(case.needle, tmp_path) in err, err
    assert tree(tmp_path) == before, "a file was written (or a planted payload ran)"
    # a flag the user typed may be echoed (an unknown one is named so); any other must exist:
    # in the command's own words, or in a command it suggests (`tsvq train --init ...`)
    said = err.split(": error: ", 1)[-1]  # after the program's name
    for cmd, words in SUGGESTED.findall(said):
        wrong = _flags_named(words) - _flags_of((cmd, *words.split()))
        assert not wrong, f"suggests tsvq {cmd} with flags it lacks: {sorted(wrong)}: {err}"
    own = SUGGESTED.sub("", said)
    foreign = _flags_named(own) - _flags_of(case.argv) - _flags_named(" ".join(case.argv))
    assert not foreign, f"names flags {case.argv[0]} does not have: {sorted(foreign)}: {err}"


SUGGESTED = re.compile(r"\btsvq ([a-z]+)((?: [^ ;)`]+)*)")  # a command a message suggests


def _flags_named(err: str) -> set[str]:
    """The flags a message names (`--lr`, not a path's `--` nor `a--b`)."""
    return set(re.findall(r"(?<![\w/.-])--([a-z][a-z0-9_]*)", err))


def _flags_of(argv: tuple[str, ...]) -> set[str]:
    """The flags of the command `argv` runs (`data download`: of its subcommand)."""
    parser = build_parser(argv[0])
    names: set[str] = set()
    stack = [parser]
    while stack:
        p = stack.pop()
        for action in p._actions:
            names |= {o.lstrip("-") for o in action.option_strings}
            if isinstance(action, argparse._SubParsersAction):
                stack += [sub for key, sub in action.choices.items() if key in argv[:2]]
    return names


@pytest.fixture
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, data_dir: Path) -> Path:
    monkeypatch.chdir(tmp_path)  # a default --save_path would land here, not in the repo
    monkeypatch.setenv("TSVQ_DATA_DIR", str(data_dir))
    return tmp_path


@pytest.mark.parametrize("name", _rows(list(CASES)))
def test_bad_input(name: str, in_tmp: Path, run_cli, tree, evil: type) -> None:
    _check(CASES[name], in_tmp, run_cli, tree, evil)


def test_bad_csv(bad_file: tuple[bytes, str], in_tmp: Path, run_cli, tree, evil: type) -> None:
    """Each kind of bad CSV file (the table the CSV reader's tests share) given to train."""
    _check(_csv_case(bad_file), in_tmp, run_cli, tree, evil)


def _check_process(case: Case, tmp_path: Path, subprocess_env, tree, evil: type) -> None:
    _plant(case, tmp_path, evil)
    before = tree(tmp_path)
    proc = subprocess.run(
        [sys.executable, "-m", "tsvq", *[_fill(a, tmp_path) for a in case.argv]],
        cwd=tmp_path,
        env=subprocess_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.count("\n") == 1 and _fill(case.needle, tmp_path) in proc.stderr
    assert tree(tmp_path) == before


SUBPROCESS_ROWS = [
    "train lr nan",
    "train init a tokenizer of another factor",
    "train resume carrying code",
    "data download bad scheme",
]


@pytest.mark.parametrize("name", _rows(SUBPROCESS_ROWS))
def test_bad_input_as_a_real_process(
    name: str, tmp_path: Path, subprocess_env, tree, evil: type
) -> None:
    _check_process(CASES[name], tmp_path, subprocess_env, tree, evil)


@pytest.mark.parametrize("bad_file", ["binary garbage"], indirect=True)
def test_bad_csv_as_a_real_process(
    bad_file: tuple[bytes, str], tmp_path: Path, subprocess_env, tree, evil: type
) -> None:
    _check_process(_csv_case(bad_file), tmp_path, subprocess_env, tree, evil)


def test_spec_script_answers_bad_flags_the_same_way(
    tmp_path: Path, repo: Path, subprocess_env
) -> None:
    proc = subprocess.run(
        [sys.executable, str(repo / "vqvae_train.py"), "--compression_factor", "12"],
        cwd=tmp_path,
        env=subprocess_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "compression_factor=12" in proc.stderr
    assert list(tmp_path.iterdir()) == []
