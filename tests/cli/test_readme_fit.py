"""The README's "Your own data" example runs as written, in both languages."""

from __future__ import annotations

import re
from pathlib import Path

import pytest


@pytest.mark.parametrize(
    ("readme", "heading"),
    [("README.md", "## Your own data"), ("README.zh-CN.md", "## 你自己的数据")],
)
def test_readme_own_data_example_runs(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture,
    readme: str,
    heading: str,
    repo: Path,
) -> None:
    text = (repo / readme).read_text(encoding="utf-8")
    code = re.search(r"```python\n(.*?)```", text.split(heading, 1)[1], re.S).group(1)
    monkeypatch.chdir(tmp_path)
    exec(compile(code, readme, "exec"), {"__name__": "__main__"})
    out = capsys.readouterr().out.splitlines()
    printed = [line for line in out if line.startswith(("[", "("))]
    assert printed == ["['0', '1', '2']", "['load', 'temp']", "(1, 1, 8)"], out
    assert sum(line.startswith("Epoch   1/1 |") for line in out) == 3
    assert (tmp_path / "runs" / "custom" / "vqvae_cw32_ps16_ed32_cf4_cb256_model1.pth").is_file()
