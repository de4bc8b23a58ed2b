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

from perfkit.analysis.evidence import Evidence


def job_of(units: Sequence[Evidence]) -> Evidence | None:
    """Job-level evidence when the units are two or more distinct ranks."""
    ranked = [u for u in units if u.rank is not None]
    if len(ranked) < 2 or len({u.rank for u in ranked}) != len(ranked):
        return None
    return Evidence(ranks=sorted(ranked, key=lambda u: u.rank))


def phase_series(ev: Evidence) -> dict[str, list[float]]:
    """Per-step phases of one rank, aligned by step index: step, data wait, rest."""
    if ev.run is not None and ev.timed_steps:
        steps = ev.timed_steps
        period = [ev.step_period_ms(s) for s in steps]
        wait = [float(s.get("data_wait_ms") or 0.0) for s in steps]
        syncs = [float(ev.step_syncs(s)) for s in steps]
        return {
            "step_ms": period,
            "data_wait_ms": wait,
            "compute_ms": [p - w for p, w in zip(period, wait)],
            "syncs": syncs,
        }
    if ev.trace is not None and ev.trace.steps:
        steps = ev.trace.steps
        period = [s.dur_us / 1e3 for s in steps]
        wait = [s.dataloader_us / 1e3 for s in steps]
        return {
            "step_ms": period,
            "data_wait_ms": wait,
            "compute_ms": [s.gpu_busy_us / 1e3 for s in steps],
            "syncs": [float(s.syncs) for s in steps],
        }
    return {}


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
    """The rank with the longest median step, and by how much it exceeds the median rank."""
    timed = [r for r in rows if r.get("step_ms") is not None]
    if len(timed) < 2:
        return None
    worst = max(timed, key=lambda r: r["step_ms"])
    typical = statistics.median(r["step_ms"] for r in timed)
    return {
        "rank": worst["rank"],
        "step_ms": worst["step_ms"],
        "vs_median_pct": round(100 * (worst["step_ms"] / typical - 1), 1) if typical else None,
    }
