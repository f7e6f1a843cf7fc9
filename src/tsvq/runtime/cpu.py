"""CPU settings: keep freed memory for reuse (training and inference), use only the free cores.

Both answer measurements on a 2-core machine shared with other processes:

- glibc handed each step's few-MB activations back to the system and the next step faulted
  every page in again (about 13,000 page faults, a quarter of a step's CPU time);
- PyTorch runs one thread per core, and its threads meet at a barrier after every operation:
  when another process keeps a core busy, each barrier waits for a time slice of that core,
  and training ran 5x slower with 2 threads than with 1.

So training and every inference entry point keep freed memory (eval's large passes once
mapped and unmapped fresh memory every time: 24 million page faults over ETTm1's test split),
and training, every couple of seconds, sets the thread count to the cores that other processes
left free over the last interval (never more than PyTorch's default, the affinity mask, or the
container's CPU quota: PyTorch counts the cores it may run on, not the CPU time a cgroup quota
lets it use, and threads beyond the quota are throttled in turn).
"""

from __future__ import annotations

import ctypes
import functools
import math
import os
import sys
import time
import weakref
from pathlib import Path

import torch

RECHECK_SECONDS = 2.0
FIRST_CHECK_SECONDS = 0.3  # the first decision comes early: training starts on one thread
CGROUP_ROOT = Path("/sys/fs/cgroup")
V1_CPU_DIRS = ("cpu", "cpu,cpuacct", "cpuacct,cpu")  # where distributions mount v1's controller


@functools.cache  # a process-wide setting: once is enough, however many entry points ask
def keep_freed_memory() -> None:
    """Let glibc's malloc keep the memory a training step or a forward pass frees, for the
    next one to reuse.

    Holding it never raises the peak, which each step reaches anyway. A no-op without glibc.
    Training calls it, and so does every inference pass through `tokens.passes.pass_size`.
    """
    if not sys.platform.startswith("linux"):
        return
    try:
        mallopt = ctypes.CDLL("libc.so.6").mallopt
    except (OSError, AttributeError):
        return
    m_trim_threshold, m_mmap_threshold = -1, -3
    mallopt(m_mmap_threshold, 32 << 20)  # glibc's ceiling; larger arrays still get their mmap
    mallopt(m_trim_threshold, 256 << 20)


def _busy_seconds(cpus: set[int]) -> float | None:
    """CPU seconds the machine's `cpus` have been busy since boot (all processes), or None."""
    try:
        with open("/proc/stat") as f:
            lines = f.read().splitlines()
    except OSError:
        return None
    busy = 0
    for line in lines:
        name, *fields = line.split()
        if name.startswith("cpu") and name[3:].isdigit() and int(name[3:]) in cpus:
            user, nice, system, _idle, _iowait, irq, softirq, steal = map(int, fields[:8])
            busy += user + nice + system + irq + softirq + steal
    return busy / os.sysconf("SC_CLK_TCK")


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except (OSError, UnicodeDecodeError):
        return None


def _cpus(quota: str | None, period: str | None) -> int | None:
    """Whole CPUs a quota/period pair allows (a fraction rounds up), None for no or bad quota."""
    try:
        q, p = int(quota or ""), int(period or "")
    except ValueError:  # "max", a missing file, or text we do not trust
        return None
    return math.ceil(q / p) if q > 0 and p > 0 else None


def cgroup_cpu_limit(root: Path = CGROUP_ROOT) -> int | None:
    """CPUs the cgroup CPU quota under `root` allows (rounded up), or None when unlimited.

    Reads cgroup v2's `cpu.max` ("max 100000" or "150000 100000") at `root`, else v1's
    `cpu.cfs_quota_us` / `cpu.cfs_period_us` (-1: no quota) under `root`/cpu. Inside a
    container `root` is the container's own cgroup. Missing or unreadable files mean no limit.
    """
    v2 = _read(root / "cpu.max")
    if v2 is not None:
        fields = v2.split()
        return _cpus(*fields) if len(fields) == 2 else None
    for name in V1_CPU_DIRS:
        d = root / name
        quota = _read(d / "cpu.cfs_quota_us")
        if quota is not None:
            return _cpus(quota, _read(d / "cpu.cfs_period_us"))
    return None


def free_cores(n_cpus: int, others_busy: float) -> int:
    """Threads to use when other processes kept `others_busy` CPUs busy on average."""
    return max(1, min(n_cpus, int(n_cpus - others_busy + 0.1)))


class ThreadGovernor:
    """Sets torch's thread count to the cores other processes leave free, re-checked often.

    `fixed` (a number) turns it off: that many threads, always. Off too when OMP_NUM_THREADS
    is set (the user chose) or /proc/stat is missing (not Linux): then torch's default stands,
    capped by the cgroup CPU quota unless the user chose. `cgroup_root` is where the quota is
    read (a test points it at files of its own).
    """

    def __init__(self, fixed: int | None = None, cgroup_root: Path = CGROUP_ROOT) -> None:
        self.default = default = torch.get_num_threads()
        self.quota = cgroup_cpu_limit(cgroup_root)
        try:
            self.cpus = os.sched_getaffinity(0)
        except AttributeError:  # not Linux
            self.cpus = set(range(os.cpu_count() or 1))
        user_chose = fixed is not None or "OMP_NUM_THREADS" in os.environ
        self.enabled = not user_chose and _busy_seconds(self.cpus) is not None
        # torch's own setting comes back when the governor is dropped (training is over)
        weakref.finalize(self, torch.set_num_threads, default)
        if fixed is not None:
            torch.set_num_threads(fixed)
        elif self.enabled:
            torch.set_num_threads(1)  # safe until the first interval is measured
        elif not user_chose:
            torch.set_num_threads(min(default, self.quota or default))
        self._interval = FIRST_CHECK_SECONDS
        self._mark()

    def _mark(self) -> None:
        self._wall = time.monotonic()
        self._busy = _busy_seconds(self.cpus) if self.enabled else None
        self._own = time.process_time()

    def tick(self) -> None:
        """Call once per step; re-decides when the interval (0.3 s first, then 2 s) has passed."""
        if not self.enabled or time.monotonic() - self._wall < self._interval:
            return
        wall, busy, own = time.monotonic(), _busy_seconds(self.cpus), time.process_time()
        if busy is None or self._busy is None:
            return
        others = max(0.0, (busy - self._busy) - (own - self._own)) / (wall - self._wall)
        n_cores = min(len(self.cpus), self.default)
        # the quota caps our share of CPU time whatever the other processes leave free
        n = min(self.quota or n_cores, free_cores(n_cores, others))
        if n != torch.get_num_threads():
            torch.set_num_threads(n)
        self._interval = RECHECK_SECONDS
        self._mark()
