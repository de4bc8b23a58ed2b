"""PK602 comm-bound: collectives not overlapped with compute.

What it detects: communication kernels (NCCL/RCCL) whose time is not covered by compute
kernels running at the same time, as a share of the profiled steps; without GPU kernels,
the host-side records of collectives (``gloo:all_reduce`` ...) during which the training
thread ran nothing else, i.e. waited for them. For a job of several ranks it is judged
once, on the slowest rank: on the others, a collective also waits for that rank to
arrive, which is rank-straggler's finding, not communication.
"""

from __future__ import annotations

import statistics

from perfkit.analysis.evidence import Evidence, NotApplicable, share_text
from perfkit.analysis.model import WARNING_SHARE, Finding, severity_for_share
from perfkit.rules._base import Rule


def check(ev: Evidence) -> list[Finding]:
    if ev.in_job:
        return []  # judged once for the whole job, on the rank the others wait for
    rank = ev
    if ev.ranks:
        timed = [r for r in ev.ranks if r.trace is not None and r.median_step_ms is not None]
        if not timed:
            raise NotApplicable("needs the ranks' traces with collectives")
        # On the other ranks a collective also waits for the slowest rank to arrive: that
        # is the straggler's cost (rank-straggler), not communication. The slowest rank
        # waits for no one, so its exposed collectives are the communication itself.
        rank = max(timed, key=lambda r: r.median_step_ms)
    trace = rank.need_trace("a trace with collectives (run files cannot see DDP's waits)")
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
    on = f" on rank {rank.rank} (the slowest; the others' waits are its delay)" if ev.ranks else ""
    return [
        RULE.finding(
            ev,
            severity_for_share(share),
            f"{where} run {total_us / 1e3 / steps:.1f} ms a step{on}, "
            f"{share_text(exposed_us / total_us)} of it not overlapped "
            f"with compute ({share_text(share)} of the step)",
            {
                "comm_ms_per_step": round(total_us / 1e3 / steps, 3),
                "exposed_ms_per_step": round(exposed_us / 1e3 / steps, 3),
                "collectives": int(count),
                "from": where,
                "rank": rank.rank,
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
