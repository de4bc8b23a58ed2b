"""Compare two analyzed inputs: the speedup of the median step, per-phase deltas, and which
findings were fixed or are new. The seeds judge an optimisation by its speedup; so do we.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from typing import Any

from perfkit.evidence import Evidence, phase_series
from perfkit.findings import Report


@dataclass(frozen=True)
class Comparison:
    base: str
    new: str
    speedup: float | None  # base median step / new median step
    phases: dict[str, tuple[float | None, float | None]]  # name -> (base, new)
    fixed: tuple[str, ...]  # "PK101 host-sync"
    new_findings: tuple[str, ...]
    remaining: tuple[str, ...]


def _median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def phases(ev: Evidence) -> dict[str, float | None]:
    """Per-step medians of what a step is made of (the per-rank table's phases, plus the
    transfers and memory of a run file, or the sync wait of a trace)."""
    series = phase_series(ev)
    if not series:
        return {}
    out = {
        "step_ms": _median(series["step_ms"]),
        "data_wait_ms": _median(series["data_wait_ms"]),
        "compute_ms": _median(series["compute_ms"]),
        "syncs_per_step": _median(series["syncs"]),
    }
    if ev.run is not None and ev.timed_steps:
        totals = [
            s.events.transfers.totals.values() if s.events is not None else ()
            for s in ev.timed_steps
        ]
        out["transfers_per_step"] = _median([float(sum(t["count"] for t in x)) for x in totals])
        out["transfer_bytes_per_step"] = _median(
            [float(sum(t["bytes"] for t in x)) for x in totals]
        )
        out["memory_peak_bytes"] = ev.memory_peak_bytes
    else:
        out["sync_wait_ms"] = _median([s.sync_us / 1e3 for s in ev.the_trace.steps])
    return out


def _labels(report: Report) -> dict[str, str]:
    return {f.code: f"{f.code} {f.rule}" for f in report.findings}


def compare(base: tuple[Evidence, Report], new: tuple[Evidence, Report]) -> Comparison:
    base_ev, base_report = base
    new_ev, new_report = new
    before, after = phases(base_ev), phases(new_ev)
    names = list(dict.fromkeys([*before, *after]))
    b_step, n_step = before.get("step_ms"), after.get("step_ms")
    old, now = _labels(base_report), _labels(new_report)
    return Comparison(
        base=base_ev.source,
        new=new_ev.source,
        speedup=b_step / n_step if b_step and n_step else None,
        phases={k: (before.get(k), after.get(k)) for k in names},
        fixed=tuple(v for k, v in sorted(old.items()) if k not in now),
        new_findings=tuple(v for k, v in sorted(now.items()) if k not in old),
        remaining=tuple(v for k, v in sorted(now.items()) if k in old),
    )


def comparison_to_json(c: Comparison) -> dict[str, Any]:
    return {
        "schema": "perfkit.compare/1",
        "base": c.base,
        "new": c.new,
        "speedup": round(c.speedup, 4) if c.speedup else None,
        "phases": {k: {"base": b, "new": n} for k, (b, n) in c.phases.items()},
        "fixed": list(c.fixed),
        "new_findings": list(c.new_findings),
        "remaining": list(c.remaining),
    }
