"""CPU settings: threads follow the free cores; a fixed count is honoured and given back."""

from __future__ import annotations

import gc

import pytest
import torch

from tsvq import cpu


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
