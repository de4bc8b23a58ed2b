"""PK403 low-utilization: The device is idle most of the step.

## What it detects
GPU busy time (union of kernels and copies) over the profiled steps, or NVML utilization
samples from a run file.

## Why it is slow
A GPU that waits for data, for the host or for other ranks is paid for and unused.

## Example

    # before: the GPU waits for a loader on the training thread and a read-back every step
    for x, y in DataLoader(ds, batch_size=64):
        loss = step(x.to(device), y.to(device))
        print(loss.item())
    # after: batches prepared ahead, read back now and then
    loader = DataLoader(ds, batch_size=64, num_workers=4, pin_memory=True)
    for i, (x, y) in enumerate(loader):
        loss = step(x.to(device, non_blocking=True), y.to(device, non_blocking=True))
        if i % 100 == 0:
            print(loss.item())

## Fix
Follow the findings that explain the idle time (data, syncs, launches, communication); then
raise the batch size.

## Saving
None of its own: idle time is a symptom; the data-starved, host-sync, launch-bound and comm-
bound findings say where it goes and size it.
"""

from __future__ import annotations

import statistics

from perfkit.evidence import Evidence, Need, share_text
from perfkit.findings import Finding, Severity
from perfkit.rules._base import Rule
from perfkit.thresholds import Threshold

# Below this busy share the GPU spends more time waiting than working.
BUSY_SHARE = Threshold(
    "busy-share",
    0.5,
    "a GPU busy less than this share of the time is reported",
    share=True,
)


def check(ev: Evidence) -> list[Finding]:
    if ev.gpu_trace is not None:
        steps = ev.gpu_trace.steps
        window = sum(s.dur_us for s in steps)
        busy = sum(s.gpu_busy_us for s in steps) / window if window else 0.0
        source = "trace"
    else:
        util = ev.the_run.samples.values("gpu_util")
        busy = statistics.median(util) / 100
        source = "nvml"
    if busy >= RULE.threshold(ev, BUSY_SHARE.name):
        return []
    return [
        RULE.finding(
            ev,
            Severity.WARNING,
            f"the GPU is busy {share_text(busy)} of the time ({source})",
            {"busy_share": round(busy, 3), "from": source},
            saving_reason="Idle time is a symptom: the data-starved, host-sync, launch-bound "
            "and comm-bound findings say where it goes.",
        )
    ]


RULE = Rule(
    doc=__doc__,
    check=check,
    reads="GPU trace (busy time) or NVML samples",
    needs=((Need.GPU, Need.GPU_TRACE), (Need.GPU, Need.RUN, Need.NVML)),
    thresholds=(BUSY_SHARE,),
)
