"""PK602 comm-bound: collectives not overlapped with compute.

What it detects: communication kernels (NCCL/RCCL) whose time is not covered by compute
kernels running at the same time, as a share of the profiled steps; without GPU kernels,
the host-side records of collectives (``gloo:all_reduce`` ...) during which the training
thread ran nothing else, i.e. waited for them.
"""

from __future__ import annotations

import statistics

from perfkit.analysis.evidence import Evidence, NotApplicable, share_text
from perfkit.analysis.model import WARNING_SHARE, Finding, severity_for_share
from perfkit.rules._base import Rule


def check(ev: Evidence) -> list[Finding]:
    trace = ev.need_trace("a trace with collectives (run files cannot see DDP's waits)")
    k = trace.kernels
    if k.get("comm"):
        total_us, overlapped_us, count, where = (
            k["comm_us"],
            k["comm_overlapped_us"],
            k["comm"],
            "communication kernels",
        )
    elif k.get("comm_cpu"):
        total_us, overlapped_us, count, where = (
            k["comm_cpu_us"],
            k["comm_cpu_overlapped_us"],
            k["comm_cpu"],
            "collectives",
        )
    else:
        raise NotApplicable("no collectives in the trace (single process?)")
    exposed_us = total_us - overlapped_us
    steps = len(trace.steps)
    # The median step, not the mean: the first profiled step carries the profiler's start.
    step_us = statistics.median(s.dur_us for s in trace.steps)
    share = exposed_us / steps / step_us if step_us else 0.0
    if share < WARNING_SHARE:
        return []
    return [
        RULE.finding(
            ev,
            severity_for_share(share),
            f"{where} run {total_us / 1e3 / steps:.1f} ms a step, "
            f"{share_text(exposed_us / total_us)} of it not overlapped "
            f"with compute ({share_text(share)} of the step)",
            {
                "comm_ms_per_step": round(total_us / 1e3 / steps, 3),
                "exposed_ms_per_step": round(exposed_us / 1e3 / steps, 3),
                "collectives": int(count),
                "from": where,
            },
            saving_ms=exposed_us / 1e3 / steps,
            saving_reason="The exposed communication time, which overlapping with backward "
            "(DDP buckets, no premature syncs) can hide.",
        )
    ]


RULE = Rule(
    code="PK602",
    slug="comm-bound",
    title="Collectives not overlapped with compute",
    why="DDP overlaps gradient all-reduce with the rest of backward; when buckets are too "
    "large, a sync forces completion, or compute is too short, communication sits on the "
    "critical path and every GPU waits.",
    fix="Let DDP overlap: tune bucket_cap_mb, avoid syncs between backward and step, use "
    "gradient accumulation with no_sync(), or a faster interconnect/compression.",
    example="model = DDP(model, device_ids=[rank], bucket_cap_mb=25, gradient_as_bucket_view=True)",
    check=check,
    needs="GPU trace with NCCL kernels",
)
