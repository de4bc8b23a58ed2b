"""Per-rank figures of a distributed job: what each rank's step is made of, and the job view.

Ranks of a DDP job run in lockstep: a slow rank makes the others wait inside collectives,
so their steps last as long as its own. What differs between ranks is where the time goes:
the straggler spends it on its own work (waiting for data, computing), the others spend
it waiting for the straggler.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from typing import Any

from perfkit.evidence import Evidence, phase_series


def job_of(units: Sequence[Evidence]) -> Evidence | None:
    """Job-level evidence when the units are two or more distinct ranks."""
    ranked = {u.rank: u for u in units if u.rank is not None}
    if len(ranked) < 2 or len(ranked) != sum(u.rank is not None for u in units):
        return None
    return Evidence(ranks=[ranked[r] for r in sorted(ranked)])


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


def rank_table(job: Evidence) -> list[dict[str, Any]]:
    """One row per rank: medians of each phase, and the memory peak."""
    rows = []
    for ev in job.ranks or []:
        series = phase_series(ev)
        row: dict[str, Any] = {"rank": ev.rank, "source": ev.source}
        for key, values in series.items():
            row[key] = round(statistics.median(values), 3) if values else None
        if ev.run is not None:
            row["memory_peak_bytes"] = ev.memory_peak_bytes
        rows.append(row)
    return rows


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
    spread: dict[str, Any] = {k: [] for k in ("min", "median", "max", "min_rank", "max_rank")}
    for i in range(n):
        ordered = sorted((v[i], rank) for rank, v in series.items())
        spread["min"].append(round(ordered[0][0], 3))
        spread["min_rank"].append(ordered[0][1])
        spread["median"].append(round(statistics.median(v for v, _ in ordered), 3))
        spread["max"].append(round(ordered[-1][0], 3))
        spread["max_rank"].append(ordered[-1][1])
    spread["slowest"] = [round(v, 3) for v in series.get(slowest_rank, [])[:n]]
    return spread
