"""The README's forecasting example runs as written (both languages), on the tiny tokenizer."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

pytestmark = pytest.mark.dataset("illness")


@pytest.mark.parametrize(
    ("readme", "heading"),
    [
        ("README.md", "### Runnable forecasting example"),
        ("README.zh-CN.md", "### 可运行的预测示例"),
    ],
)
def test_readme_forecasting_example_runs(
    tokenizer: Path,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture,
    readme: str,
    heading: str,
    repo: Path,
) -> None:
    text = (repo / readme).read_text(encoding="utf-8")
    code = re.search(r"```python\n(.*?)```", text.split(heading, 1)[1], re.S).group(1)
    monkeypatch.setenv("TSVQ_CHECKPOINT", str(tokenizer))  # trained on illness, context 96
    monkeypatch.chdir(tmp_path)
    exec(compile(code, readme, "exec"), {"__name__": "__main__"})
    out = capsys.readouterr().out.splitlines()
    assert [line for line in out if line.startswith("Epoch ")][-1].startswith("Epoch   2/2 |")
    assert "170 7 24" in out  # illness: 193 test rows after the context, horizon 24
    assert re.fullmatch(r"test MSE \d+\.\d{3}, MAE \d+\.\d{3}", out[-2]), out
    assert out[-1] == "(24, 7) True"
    assert (tmp_path / "forecasters" / "example.pth").is_file()
