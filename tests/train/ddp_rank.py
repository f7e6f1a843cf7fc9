"""Run by test_distributed.py under torchrun; not a test module itself.

`python ddp_rank.py OUT [TOKEN ...] -- TSVQ_ARGS ...`: every process writes its pid to
OUT/pid{RANK} and runs `tsvq TSVQ_ARGS`, except as the tokens say: `1:--lr=1e-3` adds a flag on
process 1 only (processes started unlike each other); `1:sleep=60` makes process 1 join the
process group and sleep instead of training (a process that hangs: the others wait for it in a
collective).
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import torch

from tsvq.cli import main
from tsvq.runtime.distributed import process_group

out, rest = Path(sys.argv[1]), sys.argv[2:]
split = rest.index("--")
tokens, argv = rest[:split], rest[split + 1 :]
rank = os.environ["RANK"]
(out / f"pid{rank}").write_text(str(os.getpid()))
mine = [t.split(":", 1)[1] for t in tokens if t.split(":", 1)[0] == rank]
sleep = [float(t.split("=", 1)[1]) for t in mine if t.startswith("sleep=")]
if sleep:
    with process_group(torch.device("cpu")):
        time.sleep(sleep[0])
    sys.exit(0)
sys.exit(main([*argv, *(t for t in mine if t.startswith("--"))]))
