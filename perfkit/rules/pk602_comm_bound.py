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


def check(ev: Evidence) -> list[Finding]:
    if ev.in_job:
        return []  # judged once for the whole job, on the rank the others wait for
    rank = ev
    if ev.ranks:
        traced = [r for r in ev.ranks if r.collectives is not None]
        if not traced:
            raise NotApplicable("needs the ranks' traces with collectives")
        # On every other rank a collective also waits for the last rank to arrive: that is
        # the straggler's cost (rank-straggler), not communication. The last to arrive
        # waits the least in its collectives (in lockstep DDP every rank's step lasts the
        # same, so step time cannot tell): its exposed time is the communication itself.
        rank = min(traced, key=_exposed_per_step)
    found = rank.collectives
    if found is None:
        raise NotApplicable("no collectives in the trace (single process?)")
    exposed_us = found.total_us - found.overlapped_us
    steps = max(found.steps, 1)
    share = ev.share_of_step(exposed_us / steps / 1e3)
    if share < WARNING_SHARE:
        return []
    on = f" on rank {rank.rank} (the last to arrive: it waits least)" if ev.ranks else ""
    return [
        RULE.finding(
            ev,
            ev.severity_for_share(share),
            f"{found.what} run {found.total_us / 1e3 / steps:.1f} ms a step{on}, "
            f"{share_text(exposed_us / found.total_us)} of it not overlapped "
            f"with compute ({share_text(share)} of the step)",
            {
                "comm_ms_per_step": round(found.total_us / 1e3 / steps, 3),
                "exposed_ms_per_step": round(exposed_us / 1e3 / steps, 3),
                "collectives": int(found.count),
                "from": found.what,
                "rank": rank.rank,
            },
            saving_ms=exposed_us / 1e3 / steps,
            saving_reason="The exposed communication time, which overlapping with backward "
            "(DDP buckets, no premature syncs) can hide.",
        )
    ]


def _exposed_per_step(rank: Evidence) -> float:
    found = rank.collectives
    if found is None:
        return float("inf")
    return (found.total_us - found.overlapped_us) / max(found.steps, 1)


RULE = Rule(
    doc=__doc__,
    check=check,
    reads="GPU trace with NCCL kernels",
    needs=((Need.TRACE,),),
    scope=Scope.WIDEST,
)
