"""PK504 dataparallel: nn.DataParallel instead of DistributedDataParallel.

## What it detects
A model wrapped in ``nn.DataParallel``, found in the probe step.

## Why it is slow
DataParallel is single-process and multi-threaded: the GIL, per-step model replication and
gathering on GPU 0 make it slower than DDP even on one machine.

## Example

    # before
    model = nn.DataParallel(model).cuda()
    # after (torchrun --nproc_per_node=4 train.py)
    dist.init_process_group('nccl')
    rank = int(os.environ['LOCAL_RANK'])
    torch.cuda.set_device(rank)
    model = DDP(model.cuda(rank), device_ids=[rank])
    loader = DataLoader(ds, batch_size=64, sampler=DistributedSampler(ds))

## Fix
Launch one process per GPU with torchrun and wrap the model in DistributedDataParallel:
torch.distributed.init_process_group('nccl'), model = DDP(model.to(local_rank),
device_ids=[local_rank]), and a DistributedSampler in the DataLoader; run with torchrun
--nproc_per_node=NUM_GPUS train.py.

## Saving
Not sized: DataParallel replicates the model and scatters inputs from one Python thread
every step and gathers outputs on GPU 0, where DDP scales near-linearly.
"""

from __future__ import annotations

from perfkit.evidence import Evidence, Need
from perfkit.findings import Finding, Severity
from perfkit.rules._base import Rule


def check(ev: Evidence) -> list[Finding]:
    wrapped = [w for w in ev.the_probe.wrappers if w.type == "DataParallel"]
    if not wrapped:
        return []
    on_gpu = bool(ev.accelerator)
    return [
        RULE.finding(
            ev,
            Severity.WARNING if on_gpu else Severity.INFO,
            "the model runs under nn.DataParallel: one process drives every GPU; "
            "move to DistributedDataParallel with torchrun",
            {"calls": sum(w.calls for w in wrapped)},
            saving_reason="DataParallel replicates the model and scatters inputs from one "
            "Python thread every step and gathers outputs on GPU 0; DDP scales near-linearly.",
        )
    ]


RULE = Rule(
    doc=__doc__,
    check=check,
    reads="run file (probe step)",
    needs=((Need.RUN, Need.PROBE),),
)
