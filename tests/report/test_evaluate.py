"""tsvq.evaluate (`tsvq eval`): the table it prints. (Its MSE equals the Tokenizer's round trip:
tests/tokens/test_tokenizer.py::test_roundtrip_error_is_what_tsvq_eval_reports.)"""

from __future__ import annotations

import json
import math
from pathlib import Path

import torch

from tsvq import Tokenizer
from tsvq.report.evaluate import CHUNK_VALUES, evaluate, load_split_data


def test_eval_does_not_average_different_units(tiny_run: Path, run_cli) -> None:
    rc, out, _err = run_cli(["eval", "--checkpoint", str(tiny_run)])
    assert rc == 0
    all_row = next(line for line in out.splitlines() if line.startswith("all "))
    assert all_row.split()[3:] == ["-", "-"]


def test_the_whole_is_the_mean_of_its_channels_and_eval_json_is_the_api(
    tiny_run: Path, run_cli
) -> None:
    tok = Tokenizer.from_pretrained(tiny_run)
    r = evaluate(tok, load_split_data(tok), "val")
    per = r.per_channel
    assert r.split == "val" and r.channels == len(per) == 7
    for key in ("mse", "mae"):  # every channel has the same windows
        assert math.isclose(getattr(r, key), sum(getattr(ch, key) for ch in per) / 7, rel_tol=1e-9)
    assert r.mse_original is None  # seven channels, seven units
    assert r.codes_used + r.dead_codes == r.codebook_size == 256
    assert 1 <= r.perplexity <= r.codes_used
    rc, out, _err = run_cli(["eval", "--checkpoint", str(tiny_run), "--split", "val", "--json"])
    assert rc == 0
    cli = json.loads(out)  # the same figures (one thread there, so up to summation order)
    base = cli.pop("baseline")  # and the baselines beside them
    assert _close(cli, r.to_dict()), (cli, r)
    assert base["bits_per_value"] == 2.0 and base["codebook_size"] == 256 and base["segment"] == 4
    assert math.isclose(base["gain_percent"], 100 * (1 - r.mse / base["kmeans_mse"]))
    assert 0.9 < base["window_mean_mse"] < 1.0 and 0 < base["kmeans_mse"] < 0.2


def test_the_figures_do_not_depend_on_the_size_of_the_passes(tiny_run: Path) -> None:
    """The model runs in passes of about 32,768 values; the errors are summed over the same
    chunks as when a chunk was one pass, so every figure is the same to the bit as then (one
    pass per chunk) and as with passes of any other size."""
    tok = Tokenizer.from_pretrained(tiny_run)
    data = load_split_data(tok)
    one_pass_per_chunk = CHUNK_VALUES // (data.n_channels * tok.cfg.context_points)
    assert data.n_windows("val") > one_pass_per_chunk // 2  # several passes, a whole chunk
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # many small passes: two threads wait on each other when shared
    try:
        default, before, odd = (
            evaluate(tok, data, "val", batch_size=b).to_dict()
            for b in (None, one_pass_per_chunk, 97)
        )
    finally:
        torch.set_num_threads(threads)
    assert default == before == odd
    assert default["codes_used"] > 1 and default["mse"] > 0


def _close(a: object, b: object) -> bool:
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_close(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_close(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b, rel_tol=1e-5)
    return a == b


def test_eval_says_in_words_when_the_model_loses_to_the_baseline(
    tmp_path: Path, run_cli, tiny_args, run_name: str
) -> None:
    """Four steps from a random start: worse than the codebook without a network, and eval
    says so (table and JSON), naming what likely went wrong."""
    rc, _out, err = run_cli(
        [
            *("train", "--dset", "etth1", "--channel", "0", "--n_epochs", "1", *tiny_args),
            *("--init", "random", "--max_steps_per_epoch", "4", "--save_path", str(tmp_path)),
        ]
    )
    assert rc == 0, err
    ckpt = str(tmp_path / "etth1" / f"{run_name}.pth")
    rc, out, _err = run_cli(["eval", "--checkpoint", ckpt, "--json"])
    assert rc == 0
    r = json.loads(out)
    base = r["baseline"]
    assert r["mse"] > base["kmeans_mse"] and "kmeans" in base["worse_than"]
    assert base["gain_percent"] < 0
    assert "worse than" in base["warning"] and "too few training steps" in base["warning"]
    rc, out, _err = run_cli(["eval", "--checkpoint", ckpt])
    assert rc == 0
    warning = next(line for line in out.splitlines() if line.startswith("WARNING: "))
    assert warning == f"WARNING: {base['warning']}"
    assert "higher MSE" in out and "2 bits per value" in out
