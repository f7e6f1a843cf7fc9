"""Trust nothing a file carries: edit one field of a file at random, then use the file.

For each file kind (a training checkpoint, an exported folder, a tokens file) hypothesis picks
one field of one section and changes its type, its value or its size, drops it or adds junk
beside it, saves the file again the way a user's own code would (torch.save, json.dump,
safetensors' save_file, np.savez) and runs every command that reads it. Each must either refuse
cleanly (exit status 2, one line naming the file, nothing written) or give exactly the genuine
run's output: never a different output with status 0.

Files tsvq writes now carry a digest of every field. A file without one (a checkpoint or folder
written before tsvq kept digests, or one whose digest the user deleted to vouch for an edit)
relies on the field checks alone; the same property is tested on it, except for value edits of
fields that nothing else in the file restates (`UNANCHORED`): such an edit gives a plausible
file of another model, which only a digest can tell apart.
"""

from __future__ import annotations

import contextlib
import json
import math
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from tsvq.errors import TsvqError
from tsvq.run import checkpoint
from tsvq.tokens.tokenizer import DIGEST_KEY, Tokenizer

NAME = "vqvae_cw32_ps8_ed8_cf4_cb16_model1"
RUN = "vqvae_series_cw32_ps8_ed8_cf4_cb16_model1"  # a run on series.csv
MODEL = [
    "--context_points",
    "32",
    "--patch_size",
    "8",
    "--embedding_dim",
    "8",
    "--num_embeddings",
    "16",
    "--block_hidden_size",
    "8",
    "--res_hidden_size",
    "4",
    "--num_residual_layers",
    "1",
    "--compression_factor",
    "4",
]
EXAMPLES = 300  # per file kind and variant; an example takes 5 to 100 ms on one core
SETTINGS = settings(
    max_examples=EXAMPLES,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
OPS = ("type", "value", "size", "drop", "junk")

# Fields whose value nothing else in a digest-less file restates: a value edit that keeps their
# type, size and range makes a plausible file of another model, and only the digest tells.
UNANCHORED = (
    "model_state_dict[",  # the weights (TOTEM's names)
    "tsvq['state'][",  # the quantizer's buffers beside them
    "tsvq['data']['scaler']['shift']",
    "tsvq['data']['scaler']['scale']",
    "tsvq['data']['data_path']",
    "tsvq['data']['root_path']",  # where the data is read
    "epoch",  # printed by eval
    "model.safetensors[",
    "config.json['data']['scaler']['shift']",
    "config.json['data']['scaler']['scale']",
    "config.json['data']['dset']",  # an exported folder keeps no flags to restate it:
    "config.json['model']",  # revin, context_points... agree with the weights' shapes alone
    "config.json['run']",
)

# Fields a digest-less file may lack: a folder exported without its run's epoch says "unknown".
OPTIONAL = ("config.json['run']",)


# ---- the genuine files and what the commands make of them --------------------------------------


def _csv(path: Path, rows: int = 700) -> None:
    t = np.arange(rows)
    cols = {"a": np.sin(t / 7), "b": np.cos(t / 11) * 3 + 2, "OT": np.sin(t / 5) + t / rows}
    lines = ["date,a,b,OT"] + [
        f"2020-01-{1 + i // 24:02d} {i % 24:02d}:00:00,"
        + ",".join(f"{cols[c][i]:.5f}" for c in cols)
        for i in range(rows)
    ]
    path.write_text("\n".join(lines) + "\n")


_RUN_CLI: list[Callable[[list[str]], tuple[int, str, str]]] = []


@pytest.fixture(scope="module", autouse=True)
def _bind_run_cli(run_cli: Callable[[list[str]], tuple[int, str, str]]) -> None:
    """`_cli` runs the run_cli fixture. The property tests below keep their source byte for byte:
    hypothesis derives their examples from it (derandomize), so they take no new argument."""
    _RUN_CLI[:] = [run_cli]


def _cli(argv: list[str]) -> tuple[int, str, str]:
    return _RUN_CLI[0]([str(a) for a in argv])


def _windows(csv: Path) -> np.ndarray:
    values = np.loadtxt(csv, delimiter=",", skiprows=1, usecols=(1, 2, 3), dtype=np.float32)
    return np.stack([values[i : i + 32] for i in range(0, 320, 40)])  # [8, 32, 3]


def _outputs(source: Path, tmp: Path, csv: Path, tokens: Path | None) -> dict[str, Any]:
    """What each reader makes of a checkpoint or folder: per command its output, or the
    refusal's text; raises AssertionError on anything else (a traceback, a second line, a
    file written by a refused command, a refusal that does not name the file)."""
    data = ["--data_path", csv] if source.is_dir() else []
    runs = {
        "eval": ["eval", "--checkpoint", source, "--json", "--device", "cpu", *data],
        "encode": [
            "encode",
            "--checkpoint",
            source,
            "--split",
            "test",
            "--device",
            "cpu",
            "--out",
            tmp / "t.npz",
            *data,
        ],
    }
    if tokens is not None:
        runs["decode"] = [
            "decode",
            "--checkpoint",
            source,
            "--tokens",
            tokens,
            "--device",
            "cpu",
            "--out",
            tmp / "x.npz",
        ]
    got: dict[str, Any] = {}
    for name, argv in runs.items():
        out = Path(argv[argv.index("--out") + 1]) if "--out" in argv else None
        rc, stdout, err = _cli(argv)
        if rc != 0:
            _clean_refusal(rc, err, source, out)
            return {"refused": err}
        got[name] = _npz(out) if out is not None else stdout
        out.unlink() if out is not None else None
    try:
        tok = Tokenizer.from_pretrained(source)
        enc = tok.encode(_windows(csv))
    except TsvqError as exc:
        assert "\n" not in str(exc) and str(source) in str(exc), str(exc)
        return {"refused": str(exc)}
    got["api"] = {
        "codes": enc.codes,
        "mean": enc.mean,
        "std": enc.std,
        "shift": enc.scaler.shift,
        "scale": enc.scaler.scale,
        "columns": enc.columns,
        "fingerprint": tok.fingerprint,
    }
    return got


def _clean_refusal(rc: int, err: str, source: Path, out: Path | None) -> None:
    assert rc == 2, f"exit status {rc}: {err}"
    assert err.endswith("\n") and err.count("\n") == 1 and "Traceback" not in err, err
    assert str(source) in err, f"the refusal does not name {source}: {err}"
    assert out is None or not out.exists(), f"{out} was written by a refused command"


def _npz(path: Path) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as f:
        return {k: f[k] for k in f.files}


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return (
            isinstance(a, np.ndarray)
            and isinstance(b, np.ndarray)
            and a.dtype == b.dtype
            and np.array_equal(a, b)
        )
    return bool(a == b)


@pytest.fixture(scope="module")
def genuine(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A tiny run on a generated CSV, its export, its tokens, and what each command makes of
    them, for the files with their digests and without."""
    d = tmp_path_factory.mktemp("genuine")
    csv = d / "series.csv"
    _csv(csv)
    rc, _, err = _cli(
        [
            "train",
            "--dset",
            "custom",
            "--data_path",
            csv,
            *MODEL,
            "--n_epochs",
            "2",
            "--batch_size",
            "32",
            "--max_steps_per_epoch",
            "3",
            "--save_path",
            d / "runs",
        ]
    )
    assert rc == 0, err
    ckpt = d / "runs" / "custom" / "series" / f"{RUN}_last.pth"
    folder = d / "exported"
    assert _cli(["export", "--checkpoint", ckpt, "--out", folder])[0] == 0
    tokens = d / "tokens.npz"
    assert _cli(["encode", "--checkpoint", ckpt, "--split", "test", "--out", tokens])[0] == 0
    bare_ckpt = d / "bare.pth"  # as a checkpoint written before tsvq kept digests
    raw = torch.load(ckpt, weights_only=True)
    del raw["tsvq"][checkpoint.DIGEST]
    torch.save(raw, bare_ckpt)
    bare_folder = d / "bare_folder"  # weights saved again without tsvq's metadata
    shutil.copytree(folder, bare_folder)
    save_file(load_file(folder / "model.safetensors"), bare_folder / "model.safetensors")
    out = {
        "csv": csv,
        "ckpt": ckpt,
        "folder": folder,
        "tokens": tokens,
        "bare_ckpt": bare_ckpt,
        "bare_folder": bare_folder,
        "dir": d,
    }
    work = d / "work"
    work.mkdir()
    for kind in ("ckpt", "folder", "bare_ckpt", "bare_folder"):
        out[f"{kind}_out"] = _outputs(out[kind], work, csv, tokens)
        assert "refused" not in out[f"{kind}_out"], out[f"{kind}_out"]
    # the digest changes nothing a command makes; an exported folder makes what its run made
    for kind in ("folder", "bare_ckpt", "bare_folder"):
        assert _same(out[f"{kind}_out"], out["ckpt_out"]), kind
    return out


# ---- edits ------------------------------------------------------------------------------------


def _nodes(tree: Any, keys: tuple = ()) -> list[tuple]:
    """Every key path of a nested dict, sections and leaves alike (the root excluded)."""
    out = [keys] if keys else []
    if isinstance(tree, dict):
        for k in tree:
            out += _nodes(tree[k], (*keys, k))
    return out


def _render(keys: tuple) -> str:
    return str(keys[0]) + "".join(f"[{k!r}]" for k in keys[1:])


def _other_type(value: Any, draw: Callable) -> Any:
    choices = [
        None,
        True,
        7,
        -1,
        2.5,
        float("nan"),
        "x",
        "",
        [1, 2],
        {"a": 1},
        torch.ones(2),
        torch.zeros((), dtype=torch.int64),
    ]
    picked = draw(st.sampled_from([c for c in choices if type(c) is not type(value)]))
    return picked


def _new_value(value: Any, draw: Callable) -> Any:
    """Same type and size, another value (or a non-finite one for numbers)."""
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return value + draw(st.sampled_from([1, -1, 1000, -value - 1, 2**40]))
    if isinstance(value, float):
        return draw(
            st.sampled_from([value * 1.5 + 0.1, -value, 0.0, math.inf, math.nan, value + 1e-6])
        )
    if isinstance(value, str):
        return draw(
            st.sampled_from(
                [
                    "etth1",
                    "illness",
                    "custom",
                    "S",
                    "MS",
                    "OT",
                    "a",
                    "minmax",
                    "none",
                    "vq",
                    value + "x",
                    "",
                ]
            )
        )
    if isinstance(value, list | tuple):
        assume(len(value) > 0)
        i = draw(st.integers(0, len(value) - 1))
        items = list(value)
        items[i] = _new_value(items[i], draw)
        return type(value)(items)
    if isinstance(value, torch.Tensor):
        assume(value.numel() > 0)
        t = value.clone()
        flat = t.view(-1)
        i = draw(st.integers(0, flat.numel() - 1))
        if t.is_floating_point():
            flat[i] = draw(
                st.sampled_from(
                    [
                        float(flat[i]) + 0.5,
                        -float(flat[i]),
                        0.0,
                        math.inf,
                        math.nan,
                        float(flat[i]) * 1.001,
                    ]
                )
            )
        elif t.dtype == torch.bool:
            flat[i] = not bool(flat[i])
        else:
            step, info = draw(st.sampled_from([1, -1, 100])), torch.iinfo(t.dtype)
            edited = int(flat[i]) + step
            # within the dtype (uint8 rng_state bytes): the other way round when it would leave it
            flat[i] = edited if info.min <= edited <= info.max else int(flat[i]) - step
        return t
    assume(False)  # a section: its fields are edited one by one


def _new_size(value: Any, draw: Callable) -> Any:
    if isinstance(value, list | tuple):
        grow = draw(st.booleans()) or not value
        items = list(value) + [value[-1] if value else 0] if grow else list(value)[:-1]
        return type(value)(items)
    if isinstance(value, torch.Tensor):
        assume(value.dim() > 0)
        if draw(st.booleans()) or value.shape[0] < 2:
            return torch.cat([value, value[:1]])
        return value[:-1].clone()
    assume(False)


def edit(tree: dict, keys: tuple, op: str, draw: Callable) -> None:
    """Apply `op` to the field at `keys` of `tree`, in place."""
    parent = tree
    for k in keys[:-1]:
        parent = parent[k]
    key = keys[-1]
    if op == "drop":
        del parent[key]
    elif op == "junk":
        target = parent[key] if isinstance(parent[key], dict) else parent
        target[draw(st.sampled_from(["junk", "extra.weight", 0]))] = draw(
            st.sampled_from([1, "x", torch.ones(3), None])
        )
    elif op == "type":
        parent[key] = _other_type(parent[key], draw)
    elif op == "value":
        parent[key] = _new_value(parent[key], draw)
    else:
        parent[key] = _new_size(parent[key], draw)


def _judge(got: dict[str, Any], want: dict[str, Any], field: str, op: str, bare: bool) -> None:
    """A refusal (already checked to be clean) or the genuine output; a different output only
    for a value edit of an unanchored field of a file without a digest."""
    if "refused" in got or _same(got, want):
        event("refused" if "refused" in got else "same output")
        return
    differ = sorted(k for k in want if k not in got or not _same(got[k], want[k]))
    excused = bare and (
        op == "value"
        and field.startswith(UNANCHORED)
        or op == "drop"
        and field.startswith(OPTIONAL)
    )
    assert excused, f"{op} of {field} changed the output of {differ} with exit status 0"
    event("another output: an unanchored value without a digest")


# ---- the properties ----------------------------------------------------------------------------


@pytest.mark.parametrize("variant", ["ckpt", "bare_ckpt"])
@SETTINGS
@given(data=st.data())
def test_an_edited_checkpoint_is_refused_or_changes_nothing(
    genuine: dict, variant: str, tmp_path_factory: pytest.TempPathFactory, data: st.DataObject
) -> None:
    raw = torch.load(genuine[variant], weights_only=True)
    keys = data.draw(st.sampled_from(_nodes(raw)), label="field")
    op = data.draw(st.sampled_from(OPS), label="op")
    edit(raw, keys, op, data.draw)
    work = tmp_path_factory.mktemp("ckpt")
    path = work / f"{NAME}.pth"
    torch.save(raw, path)
    got = _outputs(path, work, genuine["csv"], genuine["tokens"])
    _judge(got, genuine[f"{variant}_out"], _render(keys), op, variant.startswith("bare"))


@pytest.mark.parametrize("variant", ["folder", "bare_folder"])
@SETTINGS
@given(data=st.data())
def test_an_edited_exported_folder_is_refused_or_changes_nothing(
    genuine: dict, variant: str, tmp_path_factory: pytest.TempPathFactory, data: st.DataObject
) -> None:
    src = genuine[variant]
    weights = src / "model.safetensors"
    with safe_open(str(weights), framework="pt") as f:
        metadata = f.metadata()
    tree = {
        "config.json": json.loads((src / "config.json").read_text()),
        "model.safetensors": load_file(weights),
    }
    keys = data.draw(st.sampled_from(_nodes(tree)), label="field")
    assume(len(keys) > 1 or keys[0] == "config.json")  # the weights file stays a file
    op = data.draw(st.sampled_from(OPS), label="op")
    if keys[0] == "model.safetensors":
        assume(len(keys) == 2 or op in ("drop", "junk"))
    edit(tree, keys, op, data.draw)
    work = tmp_path_factory.mktemp("folder")
    out = work / "tok"
    shutil.copytree(src, out)
    if "config.json" in tree:
        (out / "config.json").write_text(json.dumps(_jsonable(tree["config.json"])))
    else:
        (out / "config.json").unlink()
    if keys[0] == "model.safetensors":
        tensors = {
            k: v
            for k, v in tree["model.safetensors"].items()
            if isinstance(k, str) and isinstance(v, torch.Tensor)
        }
        assume(len(tensors) == len(tree["model.safetensors"]))  # save_file takes tensors only
        save_file(
            {k: v.contiguous() for k, v in tensors.items()},
            out / "model.safetensors",
            metadata=metadata,
        )
    got = _outputs(out, work, genuine["csv"], genuine["tokens"])
    _judge(got, genuine[f"{variant}_out"], _render(keys), op, variant.startswith("bare"))


def _jsonable(v: Any) -> Any:
    """What json.dump would write for an edited config (tensors as lists, as a user's would)."""
    if isinstance(v, torch.Tensor):
        return v.tolist()
    if isinstance(v, dict):
        return {str(k): _jsonable(x) for k, x in v.items()}
    if isinstance(v, list | tuple):
        return [_jsonable(x) for x in v]
    return v


@SETTINGS
@given(data=st.data())
def test_an_edited_tokens_file_is_refused_or_changes_nothing(
    genuine: dict, tmp_path_factory: pytest.TempPathFactory, data: st.DataObject
) -> None:
    arrays = _npz(genuine["tokens"])
    key = data.draw(st.sampled_from(sorted(arrays)), label="field")
    op = data.draw(st.sampled_from(OPS), label="op")
    a = arrays[key]
    if op == "drop":
        del arrays[key]
    elif op == "junk":
        arrays[data.draw(st.sampled_from(["junk", "codes_2", "x"]))] = np.ones(3)
    elif op == "type":
        kinds = [np.float32, np.int64, np.uint8, np.bool_, "U5", np.float64]
        dtype = data.draw(st.sampled_from([k for k in kinds if np.dtype(k) != a.dtype]))
        with contextlib.suppress(ValueError):
            arrays[key] = a.astype(dtype)
        assume(arrays[key].dtype != a.dtype)
    elif op == "value":
        assume(a.size > 0)
        b = a.copy()
        flat = b.reshape(-1)
        i = data.draw(st.integers(0, flat.size - 1))
        if b.dtype.kind == "U":
            flat[i] = data.draw(st.sampled_from(["x", "OT", "tsvq-tokens", "a", ""]))
        elif b.dtype.kind == "b":
            flat[i] = not flat[i]
        elif b.dtype.kind == "f":
            flat[i] = data.draw(st.sampled_from([flat[i] + 0.5, 0.0, np.inf, np.nan, -flat[i]]))
        else:
            flat[i] = flat[i] + data.draw(st.sampled_from([1, 2, 100])) if flat[i] < 100 else 0
        assume(not np.array_equal(a, b, equal_nan=a.dtype.kind == "f"))
        arrays[key] = b
    else:
        arrays[key] = (
            np.concatenate([a, a[:1]])
            if a.ndim and data.draw(st.booleans())
            else a.reshape(-1)[:-1]
            if a.size
            else np.ones(2, a.dtype)
        )
    work = tmp_path_factory.mktemp("tokens")
    path = work / "tokens.npz"
    with open(path, "wb") as fh:
        np.savez(fh, **arrays)
    out = work / "x.npz"
    rc, _, err = _cli(
        [
            "decode",
            "--checkpoint",
            genuine["ckpt"],
            "--tokens",
            path,
            "--device",
            "cpu",
            "--out",
            out,
        ]
    )
    if rc != 0:
        _clean_refusal(rc, err, path, out)
        assert op == "junk" or key in err, f"the refusal does not name {key}: {err}"
        event("refused")
        return
    assert _same(_npz(out), genuine["ckpt_out"]["decode"]), f"{op} of {key} changed decode"
    event("same output")


# ---- the known hole and the escape hatch, spelled out ------------------------------------------


def test_eval_refuses_a_checkpoint_whose_dataset_was_edited(tiny_run: Path, tmp_path: Path) -> None:
    """The hole issue 12 names: tsvq['data']['dset'] edited and saved again with torch.save."""
    for keep_digest in (True, False):
        raw = torch.load(tiny_run, weights_only=True)
        raw["tsvq"]["data"]["dset"] = "etth2"
        if not keep_digest:
            del raw["tsvq"][checkpoint.DIGEST]
        path = tmp_path / f"edited_{keep_digest}.pth"
        torch.save(raw, path)
        rc, out, err = _cli(["eval", "--checkpoint", path])
        assert rc == 2 and out == "" and err.count("\n") == 1, err
        assert str(path) in err and "['dset']" in err, err


def test_the_digest_names_the_field_and_deleting_it_vouches_for_an_edit(
    genuine: dict, tmp_path: Path
) -> None:
    raw = torch.load(genuine["ckpt"], weights_only=True)
    raw["model_state_dict"]["vq._embedding.weight"][0, 0] += 0.25  # fine-tuned in user code
    torch.save(raw, tmp_path / "tuned.pth")
    with pytest.raises(
        TsvqError,
        match=r"model_state_dict\['vq._embedding.weight'\] was "
        r"changed after tsvq wrote the file",
    ) as info:
        checkpoint.load_run(tmp_path / "tuned.pth")
    assert str(tmp_path / "tuned.pth") in str(info.value)
    del raw["tsvq"][checkpoint.DIGEST]
    torch.save(raw, tmp_path / "vouched.pth")
    record = checkpoint.load_run(tmp_path / "vouched.pth")
    assert torch.equal(
        record.state["quantizer.codebook"], raw["model_state_dict"]["vq._embedding.weight"]
    )


def test_an_edited_tokens_file_names_the_field(genuine: dict, tmp_path: Path) -> None:
    arrays = _npz(genuine["tokens"])
    arrays["mean"] = arrays["mean"] + np.float32(0.5)  # plausible: finite, same shape and type
    with open(tmp_path / "t.npz", "wb") as fh:
        np.savez(fh, **arrays)
    rc, _, err = _cli(
        [
            "decode",
            "--checkpoint",
            genuine["ckpt"],
            "--tokens",
            tmp_path / "t.npz",
            "--out",
            tmp_path / "x.npz",
        ]
    )
    assert (
        rc == 2 and "was altered or damaged after `tsvq encode` wrote it: 'mean' was changed" in err
    ), err


def test_an_exported_folder_carries_its_digest(genuine: dict) -> None:
    with safe_open(str(genuine["folder"] / "model.safetensors"), framework="pt") as f:
        sealed = json.loads(f.metadata()[DIGEST_KEY])
    assert "config.json['data']['scaler']['scale']" in sealed
    assert any(k.startswith("model.safetensors['model.encoder") for k in sealed)


def test_resume_refuses_an_edited_last_state(genuine: dict, tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    shutil.copytree(genuine["dir"] / "runs", runs)
    last = runs / "custom" / "series" / f"{RUN}_last.pth"
    raw = torch.load(last, weights_only=True)
    raw["tsvq"]["resume"]["best_val"] = raw["tsvq"]["resume"]["best_val"] / 2
    torch.save(raw, last)
    before = {p: p.stat().st_mtime_ns for p in runs.rglob("*")}
    rc, _, err = _cli(
        [
            "train",
            "--dset",
            "custom",
            "--data_path",
            genuine["csv"],
            *MODEL,
            "--n_epochs",
            "2",
            "--batch_size",
            "32",
            "--max_steps_per_epoch",
            "3",
            "--save_path",
            runs,
            "--resume",
        ]
    )
    assert rc == 2 and "tsvq['resume']['best_val'] was changed" in err and str(last) in err, err
    assert {p: p.stat().st_mtime_ns for p in runs.rglob("*")} == before


def test_a_v2_checkpoint_without_a_digest_still_loads(genuine: dict) -> None:
    raw = torch.load(genuine["bare_ckpt"], weights_only=True)
    assert checkpoint.DIGEST not in raw["tsvq"]
    assert checkpoint.load_run(genuine["bare_ckpt"]).origin == "tsvq"


def test_resume_continues_from_a_last_state_written_before_digests(
    genuine: dict, tmp_path: Path
) -> None:
    runs = tmp_path / "runs"
    shutil.copytree(genuine["dir"] / "runs", runs)
    last = runs / "custom" / "series" / f"{RUN}_last.pth"
    raw = torch.load(last, weights_only=True)
    del raw["tsvq"][checkpoint.DIGEST]
    torch.save(raw, last)
    rc, out, err = _cli(
        [
            "train",
            "--dset",
            "custom",
            "--data_path",
            genuine["csv"],
            *MODEL,
            "--n_epochs",
            "2",
            "--batch_size",
            "32",
            "--max_steps_per_epoch",
            "3",
            "--save_path",
            runs,
            "--resume",
        ]
    )
    assert rc == 0, err
    assert f"Resuming from {last} after epoch 2" in out, out
