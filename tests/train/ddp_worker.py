"""Run by test_distributed.py under torchrun (2 CPU processes, gloo); not a test module itself.

Trains on every process and checks that they agree: the codebook and every quantizer buffer are
identical after every training step (k-means init and dead-code restarts included), the
results and decisions are the same, validation metrics equal a one-process evaluation of the
same model, and an interrupted run resumed under torchrun repeats the uninterrupted one.
Process 0 writes what it found to <out>/result.json for the test to assert on.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch
import torch.distributed as dist

from tsvq.data import windows as data_mod
from tsvq.model.vqvae import VQVAE, ModelConfig
from tsvq.runtime.distributed import is_main, process_group, world_size, wrap_ddp
from tsvq.train.loop import RunPaths, TrainConfig, run_epoch, train

OUT = Path(sys.argv[1])
BATCH = 16


def same_everywhere(t: torch.Tensor) -> bool:
    hi, lo = t.detach().double().clone(), t.detach().double().clone()
    dist.all_reduce(hi, op=dist.ReduceOp.MAX)
    dist.all_reduce(lo, op=dist.ReduceOp.MIN)
    return torch.equal(hi, lo)


def load() -> data_mod.SeriesData:
    # illness channel 0 at context 96: 581 training series (odd, so one process gets one
    # series fewer before wrapping) and, one row trimmed, 97 validation series (uneven shards).
    spec = data_mod.DataSpec("illness", None, None, context_points=96, channel=0)
    data = data_mod.load(spec)
    data.splits["val"] = data.splits["val"][:-1]
    return data


class Interrupt(Exception):
    pass


def run(
    data,
    quantizer: str,
    name: str,
    n_epochs: int = 2,
    resume: bool = False,
    stop_at: int | None = None,
) -> dict:
    cfg = ModelConfig(context_points=96, quantizer=quantizer, dead_code_restart=4, seed=1)
    tcfg = TrainConfig(
        n_epochs=n_epochs, batch_size=BATCH, amp=False, patience=1, device="cpu", resume=resume
    )
    steps, agreed, cores = [], [], []

    def check(module, _inputs, _output) -> None:
        if module.training:  # after the step's k-means init, EMA update or restart
            steps.append(int(module.step))
            agreed.append(all(same_everywhere(t) for t in (module.codebook, *module.buffers())))

    def wrap(core: VQVAE) -> torch.nn.Module:
        cores.append(core)
        core.quantizer.register_forward_hook(check)
        return wrap_ddp(core)

    def log(line: str) -> None:
        if stop_at is not None and line.startswith(f"Epoch {stop_at:3d}/"):
            raise Interrupt  # every process logs this line, so all stop at the same point

    try:
        result = train(data, cfg, tcfg, RunPaths(OUT / name, "m"), {}, log=log, wrap=wrap)
    except Interrupt:
        return {}
    core = cores[0]
    state_agrees = {k: same_everywhere(v) for k, v in core.state_dict().items()}
    history = [{k: v for k, v in row.items() if k != "seconds"} for row in result.history]
    mine = (
        result.best_epoch,
        result.best_val_loss,
        result.epochs_run,
        result.stopped_early,
        history,
    )
    results = [None] * world_size()
    dist.all_gather_object(results, mine)
    return {
        "core": core,
        "steps": steps,
        "every_step_agrees": all(agreed),
        "state_disagrees": [k for k, ok in state_agrees.items() if not ok],
        "restarts": int(core.quantizer.restarts),
        "results_agree": all(r == mine for r in results),
        "history": history,
    }


def main() -> None:
    data = load()
    report: dict = {"world_size": 0, "runs": {}}
    finals = {}
    with process_group(torch.device("cpu")):
        report["world_size"] = world_size()
        for quantizer in ("ema", "vq"):
            r = run(data, quantizer, quantizer)
            finals[quantizer] = (r.pop("core"), r["history"][-1])
            report["runs"][quantizer] = r
        run(data, "ema", "resumed", stop_at=2)  # epoch 1 saved, epoch 2 lost
        r = run(data, "ema", "resumed", resume=True)
        r.pop("core")
        report["runs"]["resumed"] = r
    if not is_main():
        return
    # The group is gone: evaluate the same final models in one process, as a user would.
    for quantizer, (core, last) in finals.items():
        core.eval()
        with torch.inference_mode():
            va = run_epoch(
                core,
                core,
                data_mod.series_batches(data, "val", 64),
                -(-data.n_windows("val") // 64),
                torch.device("cpu"),
                None,
            )
        report["runs"][quantizer]["single_process_val"] = {
            "valid_loss": va.loss,
            "valid_recon_loss": va.recon,
            "valid_perplexity": va.epoch_perplexity,
            "valid_codes_used": va.codes_used,
            "n_series": va.n_series,
        }
        report["runs"][quantizer]["logged_val"] = {
            k: last[k]
            for k in ("valid_loss", "valid_recon_loss", "valid_perplexity", "valid_codes_used")
        }
    (OUT / "result.json").write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
