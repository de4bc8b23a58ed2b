"""PK602 comm-bound: Collectives not overlapped with compute.

## What it detects
communication kernels (NCCL/RCCL) whose time is not covered by compute kernels running at
the same time, as a share of the profiled steps; without GPU kernels, the host-side records
of collectives (``gloo:all_reduce`` ...) during which the training thread ran nothing else,
i.e. waited for them. For a job of several ranks it is judged once, on the rank that waits
least in its collectives (the last to arrive): on the others, a collective also waits for
that rank, which is rank-straggler's finding, not communication.

## Why it is slow
DDP overlaps gradient all-reduce with the rest of backward; when buckets are too large, a
sync forces completion, or compute is too short, communication sits on the critical path and
every GPU waits.

## Example

    # before
    model = DDP(model, device_ids=[rank])
    # after: smaller buckets start all-reducing earlier in backward; no copy into buckets
    model = DDP(model, device_ids=[rank], bucket_cap_mb=10, gradient_as_bucket_view=True)

## Fix
Let DDP overlap: tune bucket_cap_mb, avoid syncs between backward and step, use gradient
accumulation with no_sync(), or a faster interconnect/compression.

## Saving
The exposed communication time per step, on the rank that waits least in its collectives:
overlapping it with backward (DDP buckets, no premature syncs) can hide it.
"""

from __future__ import annotations

from perfkit.evidence import Evidence, Need, NotApplicable, share_text
from perfkit.findings import WARNING_SHARE, Finding
from perfkit.rules._base import Rule, Scope
from perfkit.trace.summary import TraceSummary


def check(ev: Evidence) -> list[Finding]:
    if ev.in_job:
        return []  # judged once for the whole job, on the rank the others wait for
    rank = ev
    if ev.ranks:
        traced = [r for r in ev.ranks if r.trace is not None and _collectives(r.trace)]
        if not traced:
            raise NotApplicable("needs the ranks' traces with collectives")
        # On every other rank a collective also waits for the last rank to arrive: that is
        # the straggler's cost (rank-straggler), not communication. The last to arrive
        # waits the least in its collectives (in lockstep DDP every rank's step lasts the
        # same, so step time cannot tell): its exposed time is the communication itself.
        rank = min(traced, key=lambda r: _exposed_per_step(r.trace))
    trace = rank.the_trace
    found = _collectives(trace)
    if found is None:
        raise NotApplicable("no collectives in the trace (single process?)")
    total_us, overlapped_us, count, where = found
    exposed_us = total_us - overlapped_us
    steps = len(trace.steps)
    share = ev.share_of_step(exposed_us / steps / 1e3)
    if share < WARNING_SHARE:
        return []
    on = f" on rank {rank.rank} (the last to arrive: it waits least)" if ev.ranks else ""
    return [
        RULE.finding(
            ev,
            ev.severity_for_share(share),
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


def _collectives(trace: TraceSummary) -> tuple[float, float, float, str] | None:
    """(total µs, µs overlapped with compute, count, what) of the trace's collectives."""
    k = trace.kernels
    if k.get("comm"):
        return k["comm_us"], k["comm_overlapped_us"], k["comm"], "communication kernels"
    if k.get("comm_cpu"):
        return k["comm_cpu_us"], k["comm_cpu_overlapped_us"], k["comm_cpu"], "collectives"
    return None


def _exposed_per_step(trace: TraceSummary | None) -> float:
    found = _collectives(trace) if trace is not None else None
    if trace is None or found is None:
        return float("inf")
    total_us, overlapped_us, _, _ = found
    return (total_us - overlapped_us) / max(len(trace.steps), 1)


RULE = Rule(
    doc=__doc__,
    check=check,
    reads="GPU trace with NCCL kernels",
    needs=((Need.TRACE,),),
    scope=Scope.WIDEST,
)
