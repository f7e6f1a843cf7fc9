"""Checkpoint reading: every bad file is refused with a reason naming it, a flipped bit anywhere
in the contents is caught by its CRC, and code planted in a pickle never runs."""

from __future__ import annotations

import io
import pickle
import struct
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from tsvq.config import TrainConfig
from tsvq.data.record import DataRecord
from tsvq.data.spec import SPEC_FIELDS_SINCE_21, DataSpec
from tsvq.data.windows import Scaler
from tsvq.errors import TsvqError
from tsvq.model.vqvae import VQVAE, ModelConfig
from tsvq.run import checkpoint
from tsvq.run.record import RunRecord


def _payload_offsets(raw: bytes) -> dict[str, int]:
    """Where each part's bytes start inside a torch zip checkpoint (after its local header)."""
    with zipfile.ZipFile(io.BytesIO(raw)) as archive:
        infos = archive.infolist()
    offsets = {}
    for info in infos:
        name_len, extra_len = struct.unpack(
            "<HH", raw[info.header_offset + 26 : info.header_offset + 30]
        )
        offsets[info.filename.split("/", 1)[1]] = info.header_offset + 30 + name_len + extra_len
    return offsets


def _flip(raw: bytes, at: int) -> bytes:
    return raw[:at] + bytes([raw[at] ^ 0x01]) + raw[at + 1 :]


def _ckpt_files(tmp: Path, good: dict, evil: type) -> dict[str, tuple[Path, str]]:
    marker = tmp / "PWNED"
    checkpoint.save(tmp / "good.pth", good)
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
        "numpy array": ({**good, "x": np.ones(2)}, "would import numpy"),
        "os.system payload": (
            {"format": checkpoint.FORMAT, **good, "x": evil(marker)},
            "would import posix.system",
        ),
        "open() payload": (
            {"format": checkpoint.FORMAT, **good, "x": evil(marker, "open")},
            "would import io.open",
        ),
        "payload in the weights": (
            {"format": checkpoint.FORMAT, **good, "model_state_dict": {"w": evil(marker)}},
            "posix.system",
        ),
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
        path.write_bytes(pickle.dumps({"x": evil(marker)}, protocol=protocol))
        out[f"bare pickle protocol {protocol}"] = (path, "not a torch checkpoint")
    return out


def test_bad_checkpoints_are_refused_and_code_never_runs(
    tmp_path: Path, good_checkpoint: dict, evil: type
) -> None:
    files = _ckpt_files(tmp_path, good_checkpoint, evil)
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


def test_any_flipped_bit_in_the_contents_is_caught(tmp_path: Path, good_checkpoint: dict) -> None:
    """torch does not check zip CRCs; checkpoint.load does, so no flip loads silently."""
    checkpoint.save(tmp_path / "good.pth", good_checkpoint)
    raw = (tmp_path / "good.pth").read_bytes()
    with zipfile.ZipFile(tmp_path / "good.pth") as archive:
        sizes = {i.filename.split("/", 1)[1]: i.file_size for i in archive.infolist()}
    bad = tmp_path / "bad.pth"
    for part, start in _payload_offsets(raw).items():
        for at in range(start, start + sizes[part]):
            bad.write_bytes(_flip(raw, at))
            with pytest.raises(TsvqError, match="CRC-32"):
                checkpoint.load(bad)


def test_the_planted_payload_is_live(tmp_path: Path, good_checkpoint: dict, evil: type) -> None:
    """Control: the same file loaded unsafely does run the code, so the test above means it."""
    _ckpt_files(tmp_path, good_checkpoint, evil)
    torch.load(tmp_path / "os.system_payload.pth", weights_only=False)
    assert (tmp_path / "PWNED").exists()


def test_a_record_without_the_file_reading_fields_reads_with_their_defaults(tmp_path: Path):
    """A checkpoint written before issue 21's fields (how a user's file is read) loads: each
    absent field takes its default, a plain wide read."""
    cfg = ModelConfig(context_points=32, seed=2021)
    spec = DataSpec("custom", None, str(tmp_path / "d.csv"), 32, exclude_columns=("label",))
    scaler = Scaler("standard", np.zeros(2, np.float32), np.ones(2, np.float32))
    record = RunRecord(
        cfg, DataRecord(spec, scaler, ("a", "b"), 2), TrainConfig(), {}, 0, 1.0, 1.0, {}
    )
    raw = checkpoint.payload(record, VQVAE(cfg))
    torch.save(raw, tmp_path / "new.pth")
    assert checkpoint.load_run(tmp_path / "new.pth").data.spec.exclude_columns == ("label",)
    for key in SPEC_FIELDS_SINCE_21:
        del raw["tsvq"]["data"][key]
    del raw["tsvq"][checkpoint.DIGEST]  # as a record of then has no digest of these fields
    torch.save(raw, tmp_path / "old.pth")
    old = checkpoint.load_run(tmp_path / "old.pth").data.spec
    assert (old.value_columns, old.exclude_columns, old.id_column, old.missing) == (
        None,
        (),
        None,
        "error",
    )
