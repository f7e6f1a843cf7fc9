"""CPU settings: threads follow the free cores; a fixed count is honoured and given back."""

from __future__ import annotations

import gc

import pytest
import torch

from tsvq.runtime import cpu


@pytest.mark.parametrize(
    ("n_cpus", "others_busy", "threads"),
    [
        (2, 0.0, 2),  # an idle machine: every core
        (2, 0.05, 2),  # a little background noise does not cost a core
        (2, 0.3, 1),  # another process on a core part of the time: stay off it
        (2, 1.0, 1),
        (2, 5.0, 1),  # overloaded: still one thread
        (16, 3.2, 12),
        (1, 0.0, 1),
    ],
)
def test_free_cores(n_cpus: int, others_busy: float, threads: int):
    assert cpu.free_cores(n_cpus, others_busy) == threads


def test_fixed_threads_are_set_and_given_back():
    before = torch.get_num_threads()
    governor = cpu.ThreadGovernor(fixed=1)
    assert torch.get_num_threads() == 1 and not governor.enabled
    governor.tick()  # fixed: never changes the count
    assert torch.get_num_threads() == 1
    del governor
    gc.collect()
    assert torch.get_num_threads() == before


def test_governor_decides_within_bounds(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr(cpu, "FIRST_CHECK_SECONDS", 0.0)
    before = torch.get_num_threads()
    governor = cpu.ThreadGovernor()
    sum(i * i for i in range(200_000))  # some work of our own between readings
    governor.tick()
    if governor.enabled:  # Linux: a count between 1 and torch's default
        assert 1 <= torch.get_num_threads() <= before
    del governor
    gc.collect()
    assert torch.get_num_threads() == before


def test_keep_freed_memory_is_harmless():
    cpu.keep_freed_memory()
    x = torch.randn(1 << 20)
    assert torch.isfinite(x.sum())


# Each case: the files written under a fresh cgroup root, and the CPUs the quota allows.
V1 = "cpu"
CGROUP_CASES = {
    "v2 no quota": ({"cpu.max": "max 100000\n"}, None),
    "v2 two cpus": ({"cpu.max": "200000 100000\n"}, 2),
    "v2 fraction rounds up": ({"cpu.max": "150000 100000"}, 2),
    "v2 below one cpu": ({"cpu.max": "20000 100000"}, 1),
    "v2 garbage": ({"cpu.max": "lots"}, None),
    "v2 zero period": ({"cpu.max": "100000 0"}, None),
    "v1 no quota": ({f"{V1}/cpu.cfs_quota_us": "-1", f"{V1}/cpu.cfs_period_us": "100000"}, None),
    "v1 three cpus": ({f"{V1}/cpu.cfs_quota_us": "300000", f"{V1}/cpu.cfs_period_us": "100000"}, 3),
    "v1 fraction rounds up": (
        {"cpu,cpuacct/cpu.cfs_quota_us": "50001", "cpu,cpuacct/cpu.cfs_period_us": "50000"},
        2,
    ),
    "v1 period missing": ({f"{V1}/cpu.cfs_quota_us": "300000"}, None),
    "no files": ({}, None),
}


@pytest.mark.parametrize(("files", "cpus"), CGROUP_CASES.values(), ids=CGROUP_CASES.keys())
def test_cgroup_cpu_limit(tmp_path, files: dict[str, str], cpus: int | None):
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    assert cpu.cgroup_cpu_limit(tmp_path) == cpus


def test_governor_keeps_to_the_quota(tmp_path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr(cpu, "FIRST_CHECK_SECONDS", 0.0)
    monkeypatch.setattr(cpu, "free_cores", lambda n_cpus, others: n_cpus)  # an idle machine
    before = torch.get_num_threads()
    torch.set_num_threads(4)  # as if torch had found 4 cores
    (tmp_path / "cpu.max").write_text("120000 100000\n")  # 1.2 CPUs: 2 threads at most
    governor = cpu.ThreadGovernor(cgroup_root=tmp_path)
    assert governor.quota == 2
    governor.tick()
    assert torch.get_num_threads() <= 2
    if governor.enabled:
        assert torch.get_num_threads() == min(2, len(governor.cpus))
    del governor
    gc.collect()
    assert torch.get_num_threads() == 4
    torch.set_num_threads(before)
