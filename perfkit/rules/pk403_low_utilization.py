"""PK403 low-utilization: the device is busy only a small share of the step.

What it detects: GPU busy time (union of kernels and copies) over the profiled steps, or
NVML utilization samples from a run file.
"""

from __future__ import annotations

import statistics

from perfkit.evidence import Evidence, Need, share_text
from perfkit.findings import Finding, Severity
from perfkit.rules._base import Rule

# Below this busy share the GPU spends more time waiting than working.
LOW_BUSY_SHARE = 0.5


def check(ev: Evidence) -> list[Finding]:
    if ev.gpu_trace is not None:
        steps = ev.gpu_trace.steps
        window = sum(s.dur_us for s in steps)
        busy = sum(s.gpu_busy_us for s in steps) / window if window else 0.0
        source = "trace"
    else:
        util = [u for u in ev.run.samples["series"]["gpu_util"] if u is not None]
        busy = statistics.median(util) / 100
        source = "nvml"
    if busy >= LOW_BUSY_SHARE:
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
    code="PK403",
    slug="low-utilization",
    title="The device is idle most of the step",
    why="A GPU that waits for data, for the host or for other ranks is paid for and unused.",
    fix="Follow the findings that explain the idle time (data, syncs, launches, "
    "communication); then raise the batch size.",
    example="# see the other findings of this report",
    check=check,
    reads="GPU trace (busy time) or NVML samples",
    needs=((Need.GPU, Need.GPU_TRACE), (Need.GPU, Need.RUN, Need.NVML)),
)
