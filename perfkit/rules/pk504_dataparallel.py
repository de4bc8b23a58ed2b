"""PK504 dataparallel: ``nn.DataParallel`` where DistributedDataParallel is the fix."""

from __future__ import annotations

from perfkit.evidence import Evidence, Need
from perfkit.findings import Finding, Severity
from perfkit.rules._base import Rule


def check(ev: Evidence) -> list[Finding]:
    run = ev.run
    wrapped = [w for w in run.probe.get("wrappers", []) if w["type"] == "DataParallel"]
    if not wrapped:
        return []
    on_gpu = bool(ev.accelerator)
    return [
        RULE.finding(
            ev,
            Severity.WARNING if on_gpu else Severity.INFO,
            "the model runs under nn.DataParallel: one process drives every GPU; "
            "move to DistributedDataParallel with torchrun",
            {"calls": sum(w["calls"] for w in wrapped)},
            saving_reason="DataParallel replicates the model and scatters inputs from one "
            "Python thread every step and gathers outputs on GPU 0; DDP scales near-linearly.",
        )
    ]


RULE = Rule(
    code="PK504",
    slug="dataparallel",
    title="nn.DataParallel instead of DistributedDataParallel",
    why="DataParallel is single-process and multi-threaded: the GIL, per-step model "
    "replication and gathering on GPU 0 make it slower than DDP even on one machine.",
    fix=(
        "Launch one process per GPU with torchrun and wrap the model in "
        "DistributedDataParallel: torch.distributed.init_process_group('nccl'), "
        "model = DDP(model.to(local_rank), device_ids=[local_rank]), and a DistributedSampler "
        "in the DataLoader; run with torchrun --nproc_per_node=NUM_GPUS train.py."
    ),
    example=(
        "# before\nmodel = nn.DataParallel(model).cuda()\n"
        "# after (torchrun --nproc_per_node=4 train.py)\n"
        "dist.init_process_group('nccl')\nrank = int(os.environ['LOCAL_RANK'])\n"
        "torch.cuda.set_device(rank)\nmodel = DDP(model.cuda(rank), device_ids=[rank])\n"
        "loader = DataLoader(ds, sampler=DistributedSampler(ds), ...)"
    ),
    check=check,
    reads="run file (probe step)",
    needs=((Need.RUN, Need.PROBE),),
)
