"""Every script in benchmarks/ runs as a user runs it, at a tiny size, and prints its figures.

Nothing here judges speed (a shared CI machine says nothing about it): each test runs one
script in a fresh process on today's code and reads back the figures it promises, checking
that they are numbers and agree with each other where they must (a ratio with its two rates,
a count with the data's shape). A script that no longer runs, or prints a table without its
numbers, fails here instead of rotting. Sizes keep the whole file near a minute and a half on
two cores (half a minute of it compiling gpu.py's torch.compile row).
"""

from __future__ import annotations

import json
import math
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import torch

from tsvq.data.windows import DataSpec, load

NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?(?:e[+-]?\d+)?|-?\.\d+")


@pytest.fixture(scope="session")
def bench(repo: Path) -> Path:
    return repo / "benchmarks"


@pytest.fixture(scope="session")
def run(bench: Path, subprocess_env) -> Callable[..., str]:
    """`run(script, *args, cwd=..., status=0)`: `python benchmarks/script args` in a fresh
    process, its exit status required: its stdout (and its stderr, for a status other than 0)."""

    def run_script(script: str, *args: object, cwd: Path, status: int = 0) -> str:
        proc = subprocess.run(
            [sys.executable, str(bench / script), *map(str, args)],
            cwd=cwd,
            env=subprocess_env(),
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert proc.returncode == status, (
            f"{script} exited with status {proc.returncode}, not {status}\n"
            f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
        )
        assert "Traceback" not in proc.stdout + proc.stderr, proc.stdout + proc.stderr
        return proc.stdout if status == 0 else proc.stdout + proc.stderr

    return run_script


def numbers(text: str) -> list[float]:
    """The numbers in `text`, thousands separators allowed."""
    return [float(m.replace(",", "")) for m in NUMBER.findall(text)]


def line(out: str, pattern: str) -> str:
    """The first line of `out` matching regular expression `pattern` (from its start)."""
    found = next((s for s in out.splitlines() if re.match(pattern, s)), None)
    assert found is not None, f"no line matching {pattern!r} in:\n{out}"
    return found


def row(out: str, label: str) -> list[float]:
    """The numbers after `label` on the first line that starts with it."""
    return numbers(line(out, re.escape(label))[len(label) :])


def close(a: float, b: float, within: float) -> bool:
    return abs(a - b) <= within


# script -> the test that runs it; a script added to benchmarks/ without one fails below
COVERED = {
    "data_door.py": "test_data_door",
    "deps.py": "test_deps",
    "encode_speed.py": "test_encode_speed",
    "finetune.py": "test_finetune",
    "forecast.py": "test_forecast",
    "forecast_baselines.py": "test_forecast_baselines",
    "gpu.py": "test_gpu_on_cpu",
    "inference_speed.py": "test_inference_speed",
    "long_run.py": "test_long_run",
    "original_trainer.py": "test_original_trainer",
    "quality.py": "test_quality",
    "quantizer_step.py": "test_quantizer_step",
    "ragged_encode.py": "test_ragged_encode",
    "rate_distortion.py": "test_rate_distortion",
    "rowfile.py": "test_rowfile",
    "scale.py": "test_scale",
    "segment_errors.py": "test_segment_errors",
    "time_to_quality.py": "test_time_to_quality",
    "tokenizer_reach.py": "test_tokenizer_reach",
    "train_speed.py": "test_train_speed",
    "vq_diagnostics.py": "test_vq_diagnostics",
    "zero_shot.py": "test_zero_shot",
}


def test_every_benchmark_script_has_a_smoke_test(bench: Path):
    scripts = {p.name for p in bench.glob("*.py")}
    assert scripts == set(COVERED), f"scripts without a test: {sorted(scripts - set(COVERED))}"
    assert all(name in globals() for name in COVERED.values())


def test_benchmarks_use_public_names_only(bench: Path):
    """No `from tsvq... import _private`, no `._private` attribute of tsvq's objects.
    original_trainer.py is the baseline's own code (TOTEM's `_conv_1` names), not tsvq's."""
    for path in bench.glob("*.py"):
        text = path.read_text()
        for m in re.finditer(r"from tsvq[\w.]* import (\([^)]*\)|[^\n]*)", text):
            private = [n for n in re.findall(r"\w+", m.group(1)) if n.startswith("_")]
            assert not private, f"{path.name} imports {private} from tsvq"
        assert not re.search(r"\btsvq(\.\w+)*\._\w", text), f"{path.name}: a private tsvq module"
        if path.name != "original_trainer.py":
            hits = re.findall(r"\b(?!self\b)\w+\._[a-z]\w*", text)
            assert not hits, f"{path.name} reaches into private names: {hits}"


def test_deps(tmp_path: Path, run):
    out = run("deps.py", "--repeats", "1", cwd=tmp_path)
    for dist in ("torch", "numpy", "pandas", "tqdm", "safetensors", "huggingface_hub"):
        own, with_deps, _seconds = row(out, dist)[:3]
        assert 0 < own <= with_deps, f"{dist}: {own} MB, {with_deps} MB with its own deps"
    for name in ("import tsvq", "tsvq --help"):
        assert len(row(out, name)) == 1
    assert re.search(r"^\(bare interpreter: \d+\.\d+ s, subtracted; medians of 1\)$", out, re.M)


def test_gpu_on_cpu(tmp_path: Path, run):
    """With no CUDA the default run says so and exits 0; `--device cpu` measures every row a
    CPU can run, the eager ones here at two batch sizes (torch.compile: the test below)."""
    if not torch.cuda.is_available():
        out = run("gpu.py", "--steps", "1", cwd=tmp_path)
        assert out.startswith("gpu.py: no CUDA device here") and len(out.splitlines()) == 1
    out = run(
        "gpu.py",
        "--device",
        "cpu",
        "--batches",
        "8,16",
        "--steps",
        "1",
        "--skip",
        "tsvq bfloat16 compile",
        cwd=tmp_path,
    )
    assert out.startswith("CPU; torch ")
    assert numbers(line(out, r"\s+B=8\s+B=16\s").split("windows/s")[0]) == [8, 16]
    base = row(out, "baseline fp32")
    for name in ("baseline fp32", "tsvq fp32", "tsvq bf16"):
        cells, warm = row(out, name)[:4], line(out, re.escape(name))
        assert re.search(r"first 3 steps \d+\.\d s$", warm)
        for b in range(2):
            rate, ratio = cells[2 * b], cells[2 * b + 1]
            assert rate > 0 and close(ratio, rate / base[2 * b], 0.06), (name, rate, ratio)
    assert "failed" not in out and "fp16" not in out  # rows for CUDA only stay out


def test_gpu_compile_row_on_cpu(tmp_path: Path, run):
    """The torch.compile row alone, one batch size (compiling costs about half a minute on a
    CPU). It once failed on a CPU: the codebook's k-means start traced under bf16 autocast."""
    out = run(
        "gpu.py",
        "--device",
        "cpu",
        "--batches",
        "8",
        "--steps",
        "1",
        "--skip",
        "baseline fp32,tsvq fp32,tsvq bf16",
        cwd=tmp_path,
    )
    rows = out.splitlines()[2:-1]
    assert len(rows) == 1 and rows[0].startswith("tsvq bfloat16 compile"), out
    rate, _three, warm = numbers(rows[0][len("tsvq bfloat16 compile") :])
    assert rate > 0 and warm > 0 and "failed" not in out, out


def test_encode_speed(tmp_path: Path, run):
    out = run(
        "encode_speed.py",
        "--windows",
        "50",
        "--repeat",
        "1",
        "--channels",
        "2",
        "--file_rows",
        "600",
        "--rss_rows",
        "700",
        cwd=tmp_path,
    )
    head = line(out, r"CPU, \d+ thread")
    assert "model cw96 ps16 cf4 cb256" in head and "50 windows x 2 channel(s)" in head
    assert "340 series per pass" in head  # tsvq.tokens.passes.per_pass: 32,768 // (96 x 2) x 2
    short, rest = out.split("\nlong file:")
    long_part = rest.split("\npeak RSS")[0]
    for name in (
        "Tokenizer.encode",
        "VQVAE.encode (bare)",
        "Tokenizer.decode",
        "VQVAE.decode (bare)",
    ):
        windows, series = row(short, name)
        assert windows > 0 and close(series, 2 * windows, 1.5), (name, windows, series)
    assert long_part.startswith(" 600 rows x 2 channel(s), stride 1: 505 windows")  # 600-96+1
    file_rate, bare_rate = (
        row(long_part, "tsvq encode (file)")[0],
        row(long_part, "VQVAE.encode (bare)")[0],
    )
    ratio = row(long_part, "ratio file / bare:")[0]
    assert close(ratio, file_rate / bare_rate, 0.01), (ratio, file_rate, bare_rate)
    baseline_mb = numbers(line(out, r"baseline \(imports and the tokenizer loaded"))[-1]
    rows, windows, _file_mb, _tokens_mb, peak_mb = numbers(line(out, r"\s+700\s"))
    assert (rows, windows) == (700, 605) and 0 < baseline_mb <= peak_mb


def test_original_trainer(tmp_path: Path, run, data_dir: Path):
    """The baseline trainer on ETTh1's first 1,200 rows (a `custom` file: 70/10/20 split)."""
    lines = (data_dir / "ETT-small" / "ETTh1.csv").read_text().splitlines()[:1201]
    csv = tmp_path / "etth1_head.csv"
    csv.write_text("\n".join(lines) + "\n")
    out = run(
        "original_trainer.py",
        "--dset",
        "custom",
        "--data_path",
        csv,
        "--context_points",
        "64",
        "--n_epochs",
        "2",
        "--save_path",
        tmp_path / "runs",
        cwd=tmp_path,
    )
    epoch = (
        r"Epoch +(\d+)/2 \| Train Loss: (\S+) \(VQ: (\S+), Recon: (\S+), Perp: (\S+)\) \| "
        r"Valid Loss: (\S+) \(VQ: (\S+), Recon: (\S+), Perp: (\S+)\)$"
    )
    printed = [[float(v) for v in m.groups()] for m in re.finditer(epoch, out, re.M)]
    assert [r[0] for r in printed] == [1, 2], out
    for r in printed:
        assert all(math.isfinite(v) for v in r)
        assert close(r[1], r[2] + r[3], 2e-6) and close(r[5], r[6] + r[7], 2e-6)
    assert "-> Best model saved" in out
    run_dir = tmp_path / "runs" / "custom"
    name = "vqvae_cw64_ps16_ed32_cf4_cb256_model1"
    history = (run_dir / f"{name}_history.csv").read_text().splitlines()
    assert history[0] == (
        "epoch,train_loss,valid_loss,train_vq_loss,valid_vq_loss,train_recon_loss,valid_recon_loss"
    )
    for text, r in zip(history[1:], printed, strict=True):
        saved = [float(v) for v in text.split(",")]
        assert close(saved[1], r[1], 1e-6) and close(saved[2], r[5], 1e-6)
    # written just now by the script (its losses are numpy scalars, as the original's were)
    ckpt = torch.load(run_dir / f"{name}.pth", weights_only=False)
    assert set(ckpt) >= {"model_state_dict", "config", "args", "epoch"}
    assert json.loads((run_dir / f"{name}_config.json").read_text())["context_points"] == 64


def test_quality(tmp_path: Path, run):
    results = tmp_path / "quality.jsonl"
    out = run(
        "quality.py",
        "--dset",
        "etth1",
        "--channel",
        "0",
        "--epochs",
        "1",
        "--max_steps_per_epoch",
        "2",
        "--variants",
        "ste",
        "--baseline_segments",
        20000,
        "--results",
        results,
        cwd=tmp_path,
    )
    printed = json.loads(out.splitlines()[0])
    assert json.loads(results.read_text()) == printed  # one row, appended to --results
    assert printed["variant"] == "ste" and printed["epochs"] == 1
    assert re.fullmatch(r"2/\d+", printed["steps"]), printed["steps"]  # a bounded epoch says so
    assert 0 < printed["mse"] < 10 and math.isfinite(printed["mse_last"])
    assert 0 < printed["codes_used"] <= printed["codebook_size"] == 256
    assert 1 <= printed["perplexity"] <= 256 and printed["best_epoch"] == 1
    table = out.split("\n", 1)[1]
    assert table.startswith("dataset  channels variant")
    cells = row(table, "etth1")
    assert close(cells[-6], math.log2(printed["perplexity"]), 0.006)  # bits = log2(perp)
    # the baseline on every row: 256 codes of 4 steps, 2 bits per value, about 0.028 here
    assert printed["bits_per_value"] == 2.0 and 0.02 < printed["baseline_mse"] < 0.04
    assert 0.999 < printed["window_mean_mse"] < 1.0
    baseline, gain = cells[-11], cells[-10]
    assert close(baseline, printed["baseline_mse"], 5e-5)
    assert close(gain, 100 * (1 - printed["mse"] / printed["baseline_mse"]), 0.51)
    again = run("quality.py", "--results", results, "--table", cwd=tmp_path)
    assert again == table  # the table alone, from the file


def test_quantizer_step(tmp_path: Path, run, repo: Path):
    if (
        subprocess.run(
            ["git", "-C", str(repo), "cat-file", "-e", "HEAD:src/tsvq/model/quantizer.py"],
            capture_output=True,
        ).returncode
        != 0
    ):
        pytest.skip("needs tsvq's git history (the 'before' is a git ref)")
    out = run("quantizer_step.py", "--ref", "HEAD", "--steps", "2", "--rounds", "2", cwd=tmp_path)
    assert re.search(r"^threads=\d+ ref=HEAD$", out, re.M)
    m = re.search(
        r"median of 2 rounds x 2 steps: before (\S+) ms, after (\S+) ms, "
        r"after/before = (\S+)$",
        out,
        re.M,
    )
    assert m, out
    before, after, ratio = map(float, m.groups())
    assert before > 0 and after > 0 and close(ratio, after / before, 0.01 * ratio + 0.002)
    assert len(row(out, "per-round after/before:")) == 2


def test_inference_speed(tmp_path: Path, run, repo: Path):
    """Eight test windows, this checkout side by side with itself as the baseline: every row
    has its figures, each ratio is its two rates', and the same code gives the same bits."""
    out = run("inference_speed.py", "--windows", "8", "--baseline_src", repo / "src", cwd=tmp_path)
    assert line(out, "ETTm1 test split: ").startswith("ETTm1 test split: 8 windows x 7 channels")
    for label in ("training, 13 steps: whole run", "training, 13 steps: after 3 steps"):
        (faults,) = row(out, label)
        assert faults >= 0
    for bare, rows in (("forward", ("tsvq eval",)), ("encode", ("Tokenizer.encode",))):
        rate, one, bare_faults = row(out, f"bare VQVAE.{bare} (64 series/pass)")
        assert rate > 0 and one == 1 and bare_faults >= 0
        for name in ("this checkout", "baseline"):
            r, ratio, faults, peak = row(out, f"{rows[0]}, {name}")
            assert close(ratio, r / rate, 0.01 + 0.02 * ratio), (r, rate, ratio)
            assert faults >= 0 and 100 < peak < 100_000
    for kind in ("eval", "encode"):
        assert f"{kind} results equal to the baseline's, bit for bit: yes" in out


def test_scale(tmp_path: Path, run, repo: Path):
    """One small size, this checkout side by side with itself as the baseline."""
    out = run(
        "scale.py",
        "--sizes",
        "3x1200",
        "--steps",
        "2",
        "--baseline_src",
        repo / "src",
        cwd=tmp_path,
    )
    series = (int(1200 * 0.7) - 512 + 1) * 3  # training windows x channels
    for label in ("this", "baseline"):
        cells = numbers(line(out, rf"\s+{label}\s+3x1200\s"))
        assert cells[:2] == [3, 1200] and cells[3] == series, cells
        read_s, read_mb, train_s, epoch_s, per_s, train_mb = cells[4:]
        assert min(read_s, read_mb, train_s, epoch_s, per_s, train_mb) > 0
        assert epoch_s < train_s and read_mb < train_mb
    ratios = numbers(line(out, r"\s+ratio\s+3x1200\s"))[2:]
    assert len(ratios) == 3 and all(r > 0 for r in ratios)


@pytest.mark.dataset("weather", "exchange", "illness")
def test_tokenizer_reach(tmp_path: Path, tiny_run: Path, run):
    out = run("tokenizer_reach.py", "--checkpoint", tiny_run, "--max_windows", "64", cwd=tmp_path)
    assert out.startswith("tokenizer: etth1 ['HUFL',") and "context 96" in out
    table = out.split("reconstruction MSE")[1].split("\nRevIN epsilon")[0]
    rows = [s for s in table.splitlines()[3:] if s.strip()]
    assert len(rows) == 15, table
    for s in rows:
        windows, mse = numbers(s[44:])
        assert windows > 0 and 0 < mse < 100, s
        assert windows <= 64 or "missing cells" in s, s  # --max_windows caps every row
    for pct in re.findall(r"([\d.]+)% codes equal", out):
        assert 0 <= float(pct) <= 100
    m = re.search(
        r"(\d+) windows x 7 channels x 24 tokens: codes uint8 .* \(codes alone "
        r"(\S+) vs (\S+) MB\)",
        out,
    )
    assert m, out
    n, uint8_mb, int64_mb = int(m[1]), float(m[2]), float(m[3])
    assert n > 0 and close(int64_mb, 8 * uint8_mb, 0.08)


def test_train_speed(tmp_path: Path, run):
    out = run(
        "train_speed.py",
        "--steps",
        "2",
        "--rounds",
        "1",
        "--threads",
        "1",
        "--matmul_size",
        "256",
        cwd=tmp_path,
    )
    # counted by torch's FlopCounterMode at the specification's defaults (DESIGN.md: 55.9 M)
    flops = row(out, "model FLOPs per window per training step")[0]
    assert flops == 55.9
    table = out.split("train win/s", 1)[1].splitlines()[1:4]
    assert table[0].startswith("baseline fp32") and all(s.startswith("tsvq") for s in table[1:])
    for s in table:
        rate, ratio, gflops, _pct, valid, valid_ratio = numbers(s.split("  ", 1)[1])
        assert rate > 0 and valid > 0 and ratio > 0 and valid_ratio > 0
        assert close(gflops, rate * flops / 1e3, 0.06 + 0.002 * gflops), s
    assert numbers(table[0].split("  ", 1)[1])[1] == 1.0


@pytest.mark.dataset("illness")
def test_long_run(tmp_path: Path, run):
    out = run(
        "long_run.py",
        *("--dset", "illness", "--context_points", "96", "--epochs", "2", "--rounds", "1"),
        "--no_compiled",
        cwd=tmp_path,
    )
    for name in ("original", "tsvq eager"):
        wall, epochs, steady = numbers(line(out, rf"round 1: {name} ").split(":", 1)[1])
        assert epochs == 2 and 0 < steady < wall, out
        estimate, ratio = numbers(line(out, rf"  {name} ").split(name, 1)[1])
        # the bounded run plus 98 steady epochs
        assert close(estimate, wall + 98 * steady, 1 + 0.01 * estimate), out
        assert ratio > 0
    assert numbers(line(out, r"  original ").split("original", 1)[1])[1] == 1.0


def test_vq_diagnostics(tmp_path: Path, run):
    figures = tmp_path / "diag.jsonl"
    out = run(
        "vq_diagnostics.py",
        "--dset",
        "etth1",
        "--channel",
        "0",
        "--epochs",
        "1",
        "--max_steps_per_epoch",
        "2",
        "--out",
        figures,
        cwd=tmp_path,
    )
    assert re.search(r"^Epoch +1/1 \| Train Loss: ", out, re.M)
    probe = json.loads(line(out, r"  \{").strip())
    assert [probe] == [json.loads(s) for s in figures.read_text().splitlines()]
    assert probe["epoch"] == 1 and 0 < probe["codes_used"] <= 256
    assert 1 <= probe["perplexity"] <= probe["codes_used"]
    z1, z50, z99 = probe["z_norm_p1_p50_p99"]
    assert 0 < z1 <= z50 <= z99
    for which in ("best", "last"):
        m = re.search(
            rf"^test {which} \(epoch 1\): mse (\S+), codes used (\d+), perplexity "
            r"(\S+)$",
            out,
            re.M,
        )
        assert m and 0 < float(m[1]) < 10 and 0 < int(m[2]) <= 256, out


def test_data_door(tmp_path: Path, run):
    out = run("data_door.py", "--rows", "2000", "--cols", "3", "--repeats", "1", cwd=tmp_path)
    assert line(out, r"file: 2,000 rows x 3 value columns, ")
    for name in ("pandas (baseline)", "door: open_source", "read_table", "scan (streaming)"):
        seconds, ratio = row(out, name)
        assert seconds > 0 and ratio > 0, name
    assert row(out, "pandas (baseline)")[1] == 1.0


@pytest.mark.dataset("illness")
def test_forecast(tmp_path: Path, run, data_dir: Path):
    """Every row on illness at a tiny size (a tokenizer trained in the script), two seeds: the
    table's means and spreads are those of the rows it prints, the naive rows are exact; every
    second train and val window (`--stride 2`), every test window; each row names its
    settings and the tokenizer it used."""
    results = tmp_path / "forecast.jsonl"
    tiny = ["--context_points", "96", "--horizon", "24", "--n_epochs", "1"]
    tiny += ["--max_steps_per_epoch", "2", "--tokenizer_epochs", "1", "--tokenizer_steps", "2"]
    tiny += ["--n_layers", "1", "--d_model", "16", "--batch_size", "32", "--stride", "2"]
    seeds = ["--seeds", "1", "2", "--results", results]
    out = run("forecast.py", "--dset", "illness", *tiny, *seeds, cwd=tmp_path)
    head = line(out, "illness: 7 channels")
    # of 557 and 74 windows unstrided; the test split whole
    assert "windows train 279, val 37, test 170" in head and "contexts encoded in" in head
    rows = [json.loads(s) for s in results.read_text().splitlines()]
    models = [r["model"] for r in rows]
    assert models == ["recon", "last", "mean", *["tokens", "patches", "dlinear"] * 2], models
    scored = rows[1:]
    assert all(r["windows"] == 170 and math.isfinite(r["mse"]) and r["mse"] > 0 for r in scored)
    # the reconstruction of every 8th test context: 22 of 170
    recon = rows[0]
    assert recon["windows"] == 22 and recon["recon_mse"] > 0 and 0 < recon["kmeans_mse"] < 1
    assert close(recon["mean_mse"], 1.0, 1e-3), recon
    label = "illness     96   24 tokenizer reconstruction (RevIN, 22 test contexts):"
    assert row(out, label) == [round(recon[k], 4) for k in ("recon_mse", "kmeans_mse", "mean_mse")]
    settings = rows[3]["settings"]
    assert settings["stride"] == 2 and settings["n_layers"] == 1 and settings["d_model"] == 16
    assert settings["tokenizer"]["epochs"] == 1 and settings["tokenizer"]["steps"] == 2
    assert len(settings["tokenizer"]["fingerprint"]) >= 16, settings
    table = out.split("\n", len(rows) + 1)[-1]
    for model in ("tokens", "patches", "dlinear"):
        mse = [r["mse"] for r in rows if r["model"] == model]
        seeds, mean, sd = row(table, f"illness     96   24 {model}")[:3]
        assert seeds == 2 and close(mean, sum(mse) / 2, 6e-5), (model, mean, mse)
        assert close(sd, abs(mse[0] - mse[1]) / math.sqrt(2), 6e-5), (model, sd, mse)
    tokens = [r["mse"] for r in rows if r["model"] == "tokens"]
    patches = [r["mse"] for r in rows if r["model"] == "patches"]
    ratio = row(table, "illness     96   24 MSE tokens / patches:")[0]
    assert close(ratio, sum(tokens) / sum(patches), 0.0006)
    # repeating the last value: computed here from the windows themselves
    w = load(DataSpec("illness", str(data_dir), None, 96)).forecast_windows("test", 24)
    last = float(((w[:, :, 96:] - w[:, :, 95:96]) ** 2).mean())
    assert close(next(r["mse"] for r in rows if r["model"] == "last"), last, 1e-6)
    again = run("forecast.py", "--results", results, "--table", cwd=tmp_path)
    assert again.strip() == table.strip()


def test_ragged_encode(tmp_path: Path, run):
    out = run(
        "ragged_encode.py", "--series", "12", "--max_len", "120", "--repeats", "1", cwd=tmp_path
    )
    assert line(out, r"series: 12 of 50\.\.120 steps .*; the same codes in both: yes$")
    for what in ("encode", "decode"):
        assert row(out, f"{what}, a loop (baseline)")[1] == 1.0
        seconds, ratio = row(out, f"{what}, one list")
        assert seconds > 0 and ratio > 0, what


def test_forecast_baselines(tmp_path: Path, run, tiny_run: Path):
    """A tokenizer's reconstruction of ETTh1's test contexts beside the equal-bit k-means
    codebook and the window mean, each context in its own RevIN space (the mean: about 1)."""
    flags = ["--tokenizer", tiny_run, "--horizon", "24", "--every", "16"]
    out = run("forecast_baselines.py", *flags, cwd=tmp_path)
    got = json.loads(out.splitlines()[0])
    # ETTh1's test split at context 96 and horizon 24: 2,857 windows, every 16th
    assert got["dset"] == "etth1" and got["context"] == 96 and got["windows"] == 179, got
    assert close(got["mean_mse"], 1.0, 1e-3) and 0 < got["kmeans_mse"] < got["mean_mse"], got
    assert 0 < got["recon_mse"] < 2, got
    label = "etth1: tokenizer reconstruction (RevIN, 179 test contexts)"
    assert row(out, label) == [round(got[k], 4) for k in ("recon_mse", "kmeans_mse", "mean_mse")]


def test_time_to_quality(tmp_path: Path, run):
    results = tmp_path / "ttq.jsonl"
    out = run(
        "time_to_quality.py",
        *("--dset", "etth1", "--channel", "0", "--epochs", "2", "--max_steps_per_epoch", "3"),
        *("--probe_every", "2", "--probe_series", "64", "--test_at", "1"),
        *("--baseline_segments", "20000", "--results", results),
        cwd=tmp_path,
    )
    rows = [json.loads(s) for s in out.splitlines()[:2]]
    saved = [json.loads(s) for s in results.read_text().splitlines()]
    assert [r["formulation"] for r in rows] == ["tsvq", "original"]
    for r, kept in zip(rows, saved, strict=True):
        assert kept.pop("curve") and kept == r  # the file has the probes' curve besides
        assert r["total_steps"] == 6 and re.fullmatch(r"3/\d+", r["steps"]), r
        assert r["probe_series"] == 64 and r["bits_per_value"] == 2.0
        assert 0.02 < r["baseline_test"] < 0.04 and r["baseline_val"] > 0
        assert set(r["test"]) == {"1", "2"} and all(0 < v < 10 for v in r["test"].values())
        # six steps from a random start do not beat the codebook: the row says so
        assert r["passed_step"] is None and r["best_val"] > r["baseline_val"]
    curve = [json.loads(s)["curve"] for s in results.read_text().splitlines()][0]
    assert [c[0] for c in curve] == [2, 4, 6]  # probes every 2 steps, up to the last
    table = out.split("\n", 2)[2]
    assert table.startswith("dataset  channels run")
    assert "not in 6" in line(table, r"etth1\s+first\s+tsvq")


def test_rate_distortion(tmp_path: Path, run):
    results = tmp_path / "rd.jsonl"
    out = run(
        "rate_distortion.py",
        *("--dset", "etth1", "--channel", "0", "--codebooks", "16", "64", "--factors", "8"),
        *("--epochs", "1", "--max_steps_per_epoch", "2", "--baseline_segments", "5000"),
        *("--results", results),
        cwd=tmp_path,
    )
    rows = [json.loads(s) for s in out.splitlines()[:2]]
    assert [(r["codebook_size"], r["compression_factor"]) for r in rows] == [(16, 8), (64, 8)]
    assert [r["bits_per_value"] for r in rows] == [0.5, 0.75]  # log2(K) / factor
    # more codes at the same factor: a closer codebook
    assert rows[1]["baseline_mse"] < rows[0]["baseline_mse"] < 1.0
    table = out.split("\n", 2)[2]
    for r in rows:
        cells = line(table, rf"etth1\s+0\s+{r['codebook_size']}\s").split()
        assert cells[3:5] == ["8", f"{r['bits_per_value']:.3f}"], cells
        mse, base, gain = float(cells[8]), float(cells[9]), float(cells[10].rstrip("%"))
        assert close(mse, r["mse"], 5e-5) and close(base, r["baseline_mse"], 5e-5)
        assert close(gain, 100 * (1 - mse / base), 1)
    assert run("rate_distortion.py", "--results", results, "--table", cwd=tmp_path) == table


@pytest.fixture(scope="module")
def tiny_pooled(tmp_path_factory: pytest.TempPathFactory, data_dir: Path) -> Path:
    """A tokenizer of 8 codes trained for 2 steps on ETTh1's pooled training split, saved."""
    import tsvq
    from tsvq.data.pool import training_pool

    series, _ = training_pool(["etth1"], 96)
    tok = tsvq.fit(series, num_embeddings=8, context_points=96, n_epochs=1, max_steps_per_epoch=2)
    return tok.save_pretrained(tmp_path_factory.mktemp("pooled") / "etth1")


def test_zero_shot(run, tiny_pooled: Path, tmp_path: Path) -> None:
    out = run(
        "zero_shot.py",
        *("--tokenizer", f"tiny={tiny_pooled}", "--local", tiny_pooled.parent),
        *("--dsets", "etth1", "--work", tmp_path, "--json", tmp_path / "z.json"),
        cwd=tmp_path,
    )
    row = next(line for line in out.splitlines() if line.startswith("| etth1 |"))
    windows, kmeans, mse, ratio, local_ratio, own, own_ratio = numbers(row.replace("etth1", ""))
    assert windows == 2881 and 0 < kmeans < 2
    assert ratio == pytest.approx(mse / kmeans, abs=0.01)
    assert mse == own and local_ratio == 1.0 and own_ratio == ratio  # the same tokenizer twice
    figures = json.loads((tmp_path / "z.json").read_text())
    assert figures[0]["tiny"]["mse"] == pytest.approx(mse, abs=1e-4)


def test_zero_shot_refit_column(run, tiny_pooled: Path, tmp_path: Path, data_dir: Path) -> None:
    """The refit column is the tokenizer's network with a codebook refitted on the dataset's
    own training split: computed here the way `tsvq train --init` starts, it gives the figure,
    and the shipped column stays the file's own (the refit does not leak into it)."""
    from tsvq.report.scores import target_data, tokenizer_score
    from tsvq.tokens.tokenizer import Tokenizer
    from tsvq.train.start import sample_latents

    out = run(
        "zero_shot.py",
        *("--tokenizer", f"tiny={tiny_pooled}", "--refit", "tiny", "--dsets", "etth1"),
        *("--work", tmp_path, "--json", tmp_path / "z.json"),
        cwd=tmp_path,
    )
    assert "| tiny refit (x k-means) |" in out
    figures = json.loads((tmp_path / "z.json").read_text())[0]
    data = target_data("etth1", 96)
    tok = Tokenizer.from_pretrained(tiny_pooled)
    assert figures["tiny"]["mse"] == pytest.approx(tokenizer_score(tok, data).mse, rel=1e-6)
    before = tok.model.quantizer.codebook.detach().clone()
    tok.model.quantizer.refit(sample_latents(tok.model, data, seed=0))
    assert not torch.equal(before, tok.model.quantizer.codebook)
    refit = tokenizer_score(tok, data).mse
    assert figures["tiny refit"]["mse"] == pytest.approx(refit, rel=1e-6)
    assert figures["tiny refit"]["mse"] != pytest.approx(figures["tiny"]["mse"], rel=1e-3)


def test_zero_shot_refit_needs_a_tokenizer_label(run, tiny_pooled: Path, tmp_path: Path) -> None:
    out = run(
        "zero_shot.py",
        *("--tokenizer", f"tiny={tiny_pooled}", "--refit", "other", "--dsets", "etth1"),
        cwd=tmp_path,
        status=2,
    )
    assert "--refit other: not a --tokenizer label (tiny)" in out


def test_segment_errors(run, tiny_pooled: Path, tmp_path: Path, data_dir: Path) -> None:
    from tsvq.report.scores import kmeans_score, target_data, tokenizer_score
    from tsvq.tokens.tokenizer import Tokenizer

    out = run(
        "segment_errors.py", "--dset", "etth1", "--tokenizer", f"tiny={tiny_pooled}", cwd=tmp_path
    )
    tables = [t for t in out.split("\n\n") if t.startswith("| ")]
    assert [t.split(" ", 2)[1] for t in tables] == ["rise", "amplitude"]
    data = target_data("etth1", 96)
    kmeans = kmeans_score(data, 8, 4).mse
    tiny = tokenizer_score(Tokenizer.from_pretrained(tiny_pooled), data).mse
    for t in tables:
        rows = [numbers(line.split("|", 2)[2]) for line in t.splitlines()[2:]]
        *bins, whole = rows
        assert len(bins) == 5 and whole[0] == 2881 * 7 * 96 / 4  # every test segment
        assert sum(b[0] for b in bins) == whole[0]
        for col in (1, 2):  # the bins add up to the MSE
            assert sum(b[col] for b in bins) == pytest.approx(whole[col], abs=5e-5)
        assert whole[1] == pytest.approx(kmeans, abs=5e-6)
        assert whole[2] == pytest.approx(tiny, abs=5e-6)


def test_finetune(run, tiny_pooled: Path, tmp_path: Path) -> None:
    out = run(
        "finetune.py",
        *("--init", tiny_pooled, "--dsets", "etth1", "--steps", "2", "--work", tmp_path),
        cwd=tmp_path,
    )
    row = next(line for line in out.splitlines() if line.startswith("| etth1 |"))
    series, kmeans, scratch, *runs = numbers(row.replace("etth1", ""))
    assert series == 7 and 0 < kmeans < 2 and scratch > 0 and len(runs) == 6
    for mse, ratio in zip(runs[::2], runs[1::2], strict=True):  # refit, fine-tuned, kept
        assert mse > 0 and ratio == pytest.approx(mse / scratch, abs=0.01)
    assert "lr 0.001" in out  # the recipe's


def test_finetune_lr(run, tiny_pooled: Path, tmp_path: Path) -> None:
    """--lr reaches the runs: another rate, other fine-tuned figures; the refit, which takes
    no step, the same; a rate of 0 is refused."""
    common = ("--init", tiny_pooled, "--dsets", "etth1", "--steps", "2", "--work", tmp_path)
    rows = {}
    for lr in ("0.001", "0.1"):
        out = run("finetune.py", *common, "--lr", lr, cwd=tmp_path)
        assert f"lr {float(lr):g} " in out
        row = next(line for line in out.splitlines() if line.startswith("| etth1 |"))
        rows[lr] = numbers(row.replace("etth1", ""))
    assert rows["0.001"][3] == rows["0.1"][3]  # the refit: no step
    assert rows["0.001"][5] != rows["0.1"][5]  # fine-tuned
    refused = run("finetune.py", *common, "--lr", "0", cwd=tmp_path, status=2)
    assert "--lr must be above 0, not 0.0" in refused


def test_rowfile(tmp_path: Path, run):
    """The rows' file shared by quality.py, rate_distortion.py and time_to_quality.py: rows
    kept at different times print as one table, in their order, each gain from its own
    baseline; no file yet, the table is its header and note alone."""
    cell = {"dset": "etth1", "channels": "0", "steps": "2/128", "epochs": 1, "seed": 2021}
    cell |= {"codes_used": 9, "flags": "", "baseline_mse": 0.5}
    rows = [
        cell | {"codebook_size": 64, "compression_factor": 8, "bits_per_value": 0.75, "mse": 0.4},
        cell | {"codebook_size": 16, "compression_factor": 8, "bits_per_value": 0.5, "mse": 0.6},
    ]
    results = tmp_path / "rd.jsonl"
    results.write_text("".join(json.dumps(r) + "\n" for r in rows))
    table = run("rate_distortion.py", "--results", results, "--table", cwd=tmp_path)
    lines = table.splitlines()
    assert lines[0].startswith("dataset  channels") and lines[-1].startswith("bits/value:")
    body = [s.split() for s in lines[1:-1]]
    assert [(c[2], c[10]) for c in body] == [("16", "-20%"), ("64", "20%")]  # by bits per value
    empty = run("rate_distortion.py", "--results", tmp_path / "none.jsonl", "--table", cwd=tmp_path)
    assert empty.splitlines() == [lines[0], lines[-1]]
