"""PK601 rank-straggler: One rank consistently slower than the others.

## What it detects
for each phase of the step (waiting for data, the rest of the step, host syncs), the rank
that spends the most on it, by how much more than the other ranks (their median), and in how
many aligned steps. In lockstep DDP every rank's step lasts as long: the straggler's own
work shows in its data wait, while the others' waiting in collectives is counted in their
compute time, so a rank that is slow to compute cannot be told from the ranks waiting for it
by run files alone; traces (comm kernels) can.

## Why it is slow
Collectives wait for the slowest rank: every other GPU idles for the difference, so one slow
rank sets the pace of the whole job.

## Example

    # before: one rank loads its shard on the training thread, the others wait for it
    loader = DataLoader(shard, batch_size=64)
    # after: every rank loads ahead, and the shards are balanced
    sampler = DistributedSampler(ds, drop_last=True)
    loader = DataLoader(ds, batch_size=64, sampler=sampler, num_workers=4, pin_memory=True)

## Fix
Find what makes that rank slow — its data shard or loader workers, its host (CPU contention,
throttling), its GPU — and even it out.

## Saving
The straggler's excess over the median rank per step: the other ranks wait this long for it
in every collective, so evening out its work gives the time back to all of them.
"""

from __future__ import annotations

import statistics

import numpy as np

from perfkit.evidence import Evidence, NotApplicable, phase_series, share_text
from perfkit.findings import Finding
from perfkit.rules._base import Rule, Scope
from perfkit.thresholds import Threshold

THRESHOLDS = (
    # Persistent, not one noisy step: the rank must lead the phase in this share of steps
    Threshold(
        "min-persistence",
        0.6,
        "the straggler must be the slowest in at least this share of the aligned steps",
        share=True,
    ),
    # ... and exceed the other ranks by at least this much, absolute and relative to the step.
    Threshold(
        "min-excess-ms",
        1.0,
        "the straggler must take at least this many ms a step more than the median rank",
    ),
    Threshold(
        "min-excess-share",
        0.10,
        "the straggler must also take at least this share of the job's median step more",
    ),
)
# What each phase means for the user.
PHASES = {
    "data_wait_ms": "waiting for data",
    "compute_ms": "computing (the rest of the step)",
    "step_ms": "the whole step",
}


def _excess(per_rank: dict[int, list[float]]) -> tuple[int, float, float] | None:
    """(rank, excess ms over the other ranks' median, share of aligned steps it leads)."""
    n = min(len(v) for v in per_rank.values())
    if n == 0:
        return None
    medians = {r: statistics.median(v) for r, v in per_rank.items()}
    worst = max(medians, key=lambda r: medians[r])
    others = statistics.median(m for r, m in medians.items() if r != worst)
    # Which rank leads each aligned step (the first of equals): a ranks x steps array, so a
    # job of a thousand ranks is judged in milliseconds.
    ranks = list(per_rank)
    leaders = np.argmax(np.array([per_rank[r][:n] for r in ranks]), axis=0)
    leads = int(np.count_nonzero(leaders == ranks.index(worst)))
    return worst, medians[worst] - others, leads / n


def check(ev: Evidence) -> list[Finding]:
    ranks = ev.ranks or []
    series = {u.rank: phase_series(u) for u in ranks if u.rank is not None}
    if any(not s for s in series.values()):
        raise NotApplicable("some ranks have no recorded steps")
    job_step = statistics.median(statistics.median(s["step_ms"]) for s in series.values())
    threshold = max(
        RULE.threshold(ev, "min-excess-ms"), RULE.threshold(ev, "min-excess-share") * job_step
    )
    min_persistence = RULE.threshold(ev, "min-persistence")
    step_excess = _excess({r: s["step_ms"] for r, s in series.items()})
    # In lockstep (DDP) every rank's step lasts as long; the waiting ranks' collective waits
    # count as their compute, so only phases outside the collectives can name the cause.
    lockstep = step_excess is not None and step_excess[1] < threshold
    best = None
    for phase in ("data_wait_ms",) if lockstep else tuple(PHASES):
        found = _excess({r: s[phase] for r, s in series.items()})
        if found is None:
            continue
        rank, excess, persistence = found
        if (
            excess >= threshold
            and persistence >= min_persistence
            and (best is None or excess > best[2])
        ):
            best = (phase, rank, excess, persistence)
    if best is None:
        return []
    phase, rank, excess, persistence = best
    share = excess / job_step if job_step else 0.0
    syncs = {r: statistics.median(s["syncs"]) for r, s in series.items()}
    extra = ""
    if syncs[rank] > statistics.median(v for r, v in syncs.items() if r != rank):
        extra = f"; it also makes {syncs[rank]:.0f} host syncs a step"
    return [
        RULE.finding(
            ev,
            ev.severity_for_share(share),
            f"rank {rank} is the straggler: {PHASES[phase]} takes {excess:.1f} ms a step more "
            f"than on the other ranks ({share_text(share)} of a {job_step:.1f} ms step), in "
            f"{share_text(persistence)} of the steps{extra}",
            {
                "rank": rank,
                "phase": phase,
                "excess_ms": round(excess, 3),
                "persistence": round(persistence, 3),
                "ranks": len(ranks),
                "job_step_ms": round(job_step, 3),
            },
            saving_ms=excess,
            saving_reason="The other ranks wait this long for the straggler in every "
            "collective; evening out its work gives it back to all of them.",
        )
    ]


RULE = Rule(
    doc=__doc__,
    check=check,
    reads="run files or traces of several ranks",
    needs=(),
    scope=Scope.JOB,
    thresholds=THRESHOLDS,
)
