"""PK404 host-bound: Host-side time dominates the step.

## What it detects
GPU busy less than half the step although neither data loading nor blocking syncs explain
the idle time — the host cannot issue work fast enough.

## Why it is slow
Python, the dispatcher and the launch path run on one CPU thread; when they take longer than
the kernels they issue, the GPU waits.

## Example

    # before
    for x, y in loader:
        loss = criterion(model(x), y)
    # after: fewer, larger launches
    model = torch.compile(model)
    for x, y in loader:
        loss = criterion(model(x), y)

## Fix
Increase work per op (batch size), fuse with torch.compile, capture with CUDA graphs, and
move per-step Python bookkeeping out of the loop.

## Saving
The GPU's idle time per step that neither data waits nor syncs explain; overlapping the host
work (bigger batches, torch.compile, CUDA graphs) recovers up to this.
"""

from __future__ import annotations

from perfkit.evidence import Evidence, Need, share_text
from perfkit.findings import Finding
from perfkit.rules._base import Rule

MAX_BUSY_SHARE = 0.5
# If data waits or syncs explain this much of the idle time, other rules own the finding.
EXPLAINED_SHARE = 0.5


def check(ev: Evidence) -> list[Finding]:
    trace = ev.the_trace
    steps = trace.steps
    window = sum(s.dur_us for s in steps)
    if not window:
        return []
    busy = sum(s.gpu_busy_us for s in steps)
    idle = window - busy
    explained = sum(s.dataloader_us + s.sync_us for s in steps)
    if busy / window >= MAX_BUSY_SHARE or explained >= EXPLAINED_SHARE * idle:
        return []
    host_ms = (idle - explained) / 1e3 / len(steps)
    share = ev.share_of_step(host_ms)
    return [
        RULE.finding(
            ev,
            ev.severity_for_share(share),
            f"the GPU idles {share_text(idle / window)} of the step and neither data loading "
            f"nor syncs explain it: {host_ms:.1f} ms a step of host-side work",
            {"gpu_busy_share": round(busy / window, 3), "unexplained_idle_ms": round(host_ms, 3)},
            saving_ms=host_ms,
            saving_reason="The unexplained idle time; overlapping host work (bigger batches, "
            "torch.compile, CUDA graphs) recovers up to this.",
        )
    ]


RULE = Rule(
    doc=__doc__,
    check=check,
    reads="GPU trace",
    needs=((Need.GPU, Need.GPU_TRACE),),
)
