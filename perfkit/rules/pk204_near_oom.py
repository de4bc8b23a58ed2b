"""PK204 near-oom: Peak memory close to the device's capacity.

## What it detects
the CUDA allocator's peak per step against the device's memory.

## Why it is slow
A run at the edge of memory fails on the first longer batch and fragments the cache.

## Example

    # before
    loss = criterion(model(x), y)
    loss.backward()
    # after: bf16 activations take half the memory
    with torch.autocast('cuda', dtype=torch.bfloat16):
        loss = criterion(model(x), y)
    loss.backward()

## Fix
Use AMP (bf16/fp16 activations), activation checkpointing, or a smaller micro-batch with
gradient accumulation.

## Saving
Headroom, not time: the share of the device's memory the peak leaves free.
"""

from __future__ import annotations

from perfkit.evidence import Evidence, Need, NotApplicable
from perfkit.findings import Finding, Severity
from perfkit.rules._base import Rule
from perfkit.thresholds import Threshold

# Above this share of device memory, fragmentation or a longer batch tips into OOM.
PEAK_SHARE = Threshold(
    "peak-share",
    0.90,
    "a peak of allocated memory at this share of the device's memory or above is reported",
    share=True,
)


def check(ev: Evidence) -> list[Finding]:
    run = ev.the_run
    capacity = run.env.device.memory_bytes
    peaks = [s.memory.peak_bytes for s in run.steps if s.memory and s.memory.peak_bytes is not None]
    # A folded block's highest reading is the allocator's peak when the run has one.
    peaks += [b.memory_peak_bytes for b in run.step_blocks if b.memory_peak_bytes and peaks]
    if not capacity or not peaks:
        raise NotApplicable("needs CUDA allocator statistics and the device's memory size")
    share = max(peaks) / capacity
    if share < RULE.threshold(ev, PEAK_SHARE.name):
        return []
    return [
        RULE.finding(
            ev,
            Severity.WARNING,
            f"peak allocated memory reaches {100 * share:.0f}% of the device's "
            f"{capacity / 2**30:.0f} GiB",
            {"peak_bytes": max(peaks), "capacity_bytes": capacity},
            saving_reason="Headroom, not time.",
        )
    ]


RULE = Rule(
    doc=__doc__,
    check=check,
    reads="GPU run file (CUDA allocator statistics)",
    needs=((Need.RUN, Need.GPU),),
    thresholds=(PEAK_SHARE,),
)
