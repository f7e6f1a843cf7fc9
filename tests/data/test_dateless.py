"""A user's CSV without a date column: its rows are numbered, and every reader agrees."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from tsvq.data.registry import RATIO
from tsvq.data.stream import RowReader, scan
from tsvq.data.table import read_table
from tsvq.data.windows import DataSpec, load, split_bounds

NAME = "vqvae_sensor_cw32_ps16_ed32_cf4_cb256_model1"  # a run on sensor.csv


def _write(path: Path, columns: list[str], rows: int, seed: int = 0) -> np.ndarray:
    values = np.round(np.random.default_rng(seed).normal(size=(rows, len(columns))).cumsum(0), 3)
    lines = [",".join(columns)] + [",".join(f"{v:.3f}" for v in row) for row in values]
    path.write_text("\n".join(lines) + "\n")
    return values.astype(np.float32)


@pytest.mark.parametrize("columns", [["a", "b", "c"], ["level"]])
def test_both_readers_read_a_file_without_dates_alike(tmp_path: Path, columns: list[str]):
    path = tmp_path / "sensor.csv"
    values = _write(path, columns, 500)
    table = read_table(path)
    assert table.columns == columns and table.dates is None
    np.testing.assert_array_equal(table.values, values)
    layout = scan(path, chunk_rows=64)
    assert layout.columns == columns and layout.n_rows == 500 and not layout.dated
    rows = RowReader(layout, list(range(len(columns))), gaps=False, chunk_rows=64).rows(0, 500)
    np.testing.assert_array_equal(rows, values)


def test_a_file_without_dates_is_split_by_row_numbers(tmp_path: Path):
    path = tmp_path / "sensor.csv"
    _write(path, ["a", "b"], 400)
    data = load(DataSpec("custom", None, str(path), 32))
    for split, (a, b) in split_bounds(400, RATIO, 32).items():
        assert data.n_windows(split) == b - a - 32 + 1


def test_a_dated_file_keeps_its_first_column_as_dates(tmp_path: Path):
    path = tmp_path / "dated.csv"
    path.write_text("when,x\n2020-01-01,1\n2020-01-02,2\n")
    table = read_table(path)
    assert table.columns == ["x"] and table.dates is not None


def test_train_and_encode_read_a_file_without_dates(tmp_path: Path, run_cli, tiny_args):
    path = tmp_path / "sensor.csv"
    _write(path, ["a", "b"], 600)
    flags = ["--context_points", "32", "--n_epochs", "1", "--max_steps_per_epoch", "3"]
    rc, out, err = run_cli(
        [
            "train",
            "--dset",
            "custom",
            "--data_path",
            str(path),
            "--save_path",
            str(tmp_path),
            *flags,
        ]
    )
    assert rc == 0, err
    ckpt = tmp_path / "custom" / "sensor" / f"{NAME}.pth"
    saved = torch.load(ckpt, weights_only=False)
    assert saved["tsvq"]["data"]["columns"] == ["a", "b"]
    rc, _, err = run_cli(["encode", "--checkpoint", str(ckpt), "--out", str(tmp_path / "t.npz")])
    assert rc == 0, err
    with np.load(tmp_path / "t.npz") as z:
        codes = z["codes"]
    assert (
        codes.shape[1:] == (2, 8)
        and codes.shape[0] == 600 - split_bounds(600, RATIO, 32)["test"][0] - 32 + 1
    )
