"""PK602 comm-bound: collectives not overlapped with compute.

What it detects: communication kernels (NCCL/RCCL) whose time is not covered by compute
kernels running at the same time, as a share of the profiled steps.
"""

from __future__ import annotations

from perfkit.analysis.evidence import Evidence, NotApplicable, share_text
from perfkit.analysis.model import WARNING_SHARE, Finding, severity_for_share
from perfkit.rules._base import Rule


def check(ev: Evidence) -> list[Finding]:
    trace = ev.need_trace("a GPU trace with communication kernels")
    k = trace.kernels
    if not k.get("comm"):
        raise NotApplicable("no communication kernels in the trace (single process?)")
    exposed_us = k["comm_us"] - k["comm_overlapped_us"]
    window = trace.window_us
    share = exposed_us / window if window else 0.0
    if share < WARNING_SHARE:
        return []
    steps = len(trace.steps)
    return [
        RULE.finding(
            ev,
            severity_for_share(share),
            f"communication kernels run {k['comm_us'] / 1e3 / steps:.1f} ms a step, "
            f"{share_text(1 - k['comm_overlapped_us'] / k['comm_us'])} of it not overlapped "
            f"with compute ({share_text(share)} of the step)",
            {
                "comm_ms_per_step": round(k["comm_us"] / 1e3 / steps, 3),
                "exposed_ms_per_step": round(exposed_us / 1e3 / steps, 3),
                "comm_kernels": int(k["comm"]),
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
