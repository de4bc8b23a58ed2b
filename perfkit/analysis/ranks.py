"""Per-rank figures of a distributed job: what each rank's step is made of, and the job view.

Ranks of a DDP job run in lockstep: a slow rank makes the others wait inside collectives,
so their steps last as long as its own. What differs between ranks is where the time goes:
the straggler spends it on its own work (waiting for data, computing), the others spend
it waiting for the straggler.

The job view is built from each rank's summary (perfkit/ranksummary.py), whether the rank
wrote it at close or the report reduced its run file: the same figures either way.
"""

from __future__ import annotations

import dataclasses
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from perfkit.evidence import Evidence, phase_series
from perfkit.findings import Finding
from perfkit.ranksummary import RankSummary
from perfkit.thresholds import Overrides


@dataclass(frozen=True)
class Job:
    """A job's ranks as a report reads them: every rank reduced to its summary, and the
    lead rank read whole (the report's header, plots and timeline describe it)."""

    lead: Evidence
    ranks: tuple[RankSummary, ...]  # in rank order
    read: str  # how the ranks were read, which the report says
    unreadable: tuple[str, ...] = ()  # traces of the folder that could not be read


def is_job(units: Sequence[Evidence]) -> bool:
    """Whether the units are two or more distinct ranks of one job, and nothing else."""
    ranks = [u.rank for u in units]
    return len(ranks) >= 2 and None not in ranks and len(set(ranks)) == len(ranks)


def job_evidence(ranks: Sequence[RankSummary], thresholds: Overrides) -> Evidence:
    """The job as job-wide rules see it: each rank by its summary, over the steps that every
    rank timed (a rank that recorded the profiler window left those steps out)."""
    common = set(ranks[0].phases.i).intersection(*(s.phases.i for s in ranks[1:]))
    steps = [i for i in ranks[0].phases.i if i in common]
    aligned = [
        s if list(s.phases.i) == steps else dataclasses.replace(s, phases=s.phases.at(steps))
        for s in ranks
    ]
    return Evidence(
        ranks=[Evidence(reduced=s, thresholds=thresholds) for s in aligned],
        thresholds=thresholds,
    )


def merge_rank_findings(per_rank: Sequence[tuple[int, list[Finding]]]) -> list[Finding]:
    """One finding for each rule and set of source lines, listing the ranks it holds on,
    with the figures of the rank where it costs most (a problem of every rank of a
    thousand-rank job is one finding, not a thousand)."""
    groups: dict[tuple[Any, ...], list[tuple[int, Finding]]] = {}
    for rank, found in per_rank:
        for f in found:
            key = (f.code, tuple((loc.file, loc.line) for loc in f.locations))
            groups.setdefault(key, []).append((rank, f))
    merged = []
    for members in groups.values():
        _, worst = max(members, key=lambda m: (m[1].severity, m[1].saving_ms or 0.0, -m[0]))
        merged.append(dataclasses.replace(worst, ranks=tuple(sorted(r for r, _ in members))))
    return merged


# Ranks of one job whose median steps lie within this share of the longest are in lockstep:
# their step times cannot say which one the others wait for.
LOCKSTEP_TOLERANCE = 0.10


def representatives(units: Sequence[Evidence]) -> dict[str, Evidence]:
    """Which unit stands for the input: the run itself, or for a job its slowest and median
    rank. Among the ranks in lockstep with the longest, the one with the most data wait (its
    own work, not waiting for others) is the slowest; with equal waits, the longest step."""
    by_step = _ranks_by_step(units)
    if len(by_step) >= 2:
        longest = by_step[-1][0]
        tied = [u for step, u in by_step if longest - step <= LOCKSTEP_TOLERANCE * longest]
        worst = max(tied, key=lambda u: (_median_wait(u), u.median_step_ms or 0.0))
        others = [u for _, u in by_step if u is not worst]
        return {"slowest rank": worst, "median rank": others[len(others) // 2]}
    lead = next((u for u in units if u.run is not None), units[0])
    return {"": lead}


def _ranks_by_step(units: Sequence[Evidence]) -> list[tuple[float, Evidence]]:
    """(median step, unit) of the timed ranks, shortest step first."""
    timed = []
    for u in units:
        step = u.median_step_ms
        if u.rank is not None and step is not None:
            timed.append((step, u))
    return sorted(timed, key=lambda pair: pair[0])


def _median_wait(unit: Evidence) -> float:
    waits = phase_series(unit).get("data_wait_ms")
    return statistics.median(waits) if waits else 0.0


def rank_row(ev: Evidence) -> dict[str, Any]:
    """A rank's medians of each phase, and its memory peak. On a long run the step and the
    data wait are the whole run's (as the header's median step), the rest the kept steps'."""
    row: dict[str, Any] = {}
    for key, values in phase_series(ev).items():
        row[key] = round(statistics.median(values), 3) if values else None
    if ev.run is not None and ev.run.step_blocks:
        for key, phase in (("step_ms", "period_ms"), ("data_wait_ms", "data_wait_ms")):
            whole = ev.step_quantile(0.5, phase)
            row[key] = round(whole, 3) if whole is not None else row.get(key)
    if ev.run is not None:
        row["memory_peak_bytes"] = ev.memory_peak_bytes
    return row


def rank_table(job: Evidence) -> list[dict[str, Any]]:
    """One row per rank: medians of each phase, and the memory peak."""
    return [
        {
            "rank": ev.rank,
            "source": ev.source,
            **(ev.reduced.row if ev.reduced is not None else rank_row(ev)),
        }
        for ev in job.ranks or []
    ]


def slowest(rows: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The rank the others wait for, and by how much its step exceeds the median rank's.
    Among the ranks in lockstep with the longest step, the one with the most data wait (its
    own work, not waiting for others) is it, as ``representatives`` says for compare; with
    equal waits, the longest step."""
    timed = [r for r in rows if r.get("step_ms") is not None]
    if len(timed) < 2:
        return None
    longest = max(r["step_ms"] for r in timed)
    tied = [r for r in timed if longest - r["step_ms"] <= LOCKSTEP_TOLERANCE * longest]
    worst = max(tied, key=lambda r: (r.get("data_wait_ms") or 0.0, r["step_ms"]))
    typical = statistics.median(r["step_ms"] for r in timed)
    return {
        "rank": worst["rank"],
        "step_ms": worst["step_ms"],
        "vs_median_pct": round(100 * (worst["step_ms"] / typical - 1), 1) if typical else None,
    }


def step_spread(job: Evidence, slowest_rank: Any) -> dict[str, Any] | None:
    """Each step's shortest, median and longest time over the ranks, which ranks those were,
    and the slowest rank's own steps: every rank in a size that does not grow with them.
    Steps are aligned by index, over the steps every rank has."""
    series = {ev.rank: phase_series(ev).get("step_ms") or [] for ev in job.ranks or []}
    n = min((len(v) for v in series.values()), default=0)
    if len(series) < 2 or n == 0:
        return None
    ranks = list(series)
    table = np.array([series[r][:n] for r in ranks])  # ranks x steps
    # Of equal times, the shortest is the first rank's, the longest the last one's.
    shortest = np.argmin(table, axis=0)
    longest = len(ranks) - 1 - np.argmax(table[::-1], axis=0)
    return {
        "min": np.round(table.min(axis=0), 3).tolist(),
        "median": np.round(np.median(table, axis=0), 3).tolist(),
        "max": np.round(table.max(axis=0), 3).tolist(),
        "min_rank": [ranks[k] for k in shortest.tolist()],
        "max_rank": [ranks[k] for k in longest.tolist()],
        "slowest": [round(v, 3) for v in series.get(slowest_rank, [])[:n]],
    }
