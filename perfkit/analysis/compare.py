"""Compare two analyzed inputs: the speedup of the median step, per-phase deltas, and which
findings were fixed or are new. The seeds judge an optimisation by its speedup; so do we.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from typing import Any

from perfkit.analysis.evidence import Evidence
from perfkit.analysis.model import Report


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
    """Per-step medians of what a step is made of."""
    if ev.run is not None and ev.timed_steps:
        steps = ev.timed_steps
        period = [ev.step_period_ms(s) for s in steps]
        wait = [float(s.get("data_wait_ms") or 0) for s in steps]

        def events(kind: str, key: str) -> list[float]:
            out = []
            for s in steps:
                block = (s.get("events") or {}).get(kind) or {}
                if kind == "syncs":
                    out.append(float(block.get(key, 0)))
                else:
                    out.append(float(sum(t.get(key, 0) for t in block.get("totals", {}).values())))
            return out

        memory = [
            (s.get("memory") or {}).get("peak_bytes", (s.get("memory") or {}).get("rss_bytes"))
            for s in ev.run.steps
        ]
        memory = [m for m in memory if m is not None]
        return {
            "step_ms": _median(period),
            "data_wait_ms": _median(wait),
            "compute_ms": _median([p - w for p, w in zip(period, wait)]),
            "syncs_per_step": _median(events("syncs", "count")),
            "transfers_per_step": _median(events("transfers", "count")),
            "transfer_bytes_per_step": _median(events("transfers", "bytes")),
            "memory_peak_bytes": max(memory) if memory else None,
        }
    if ev.trace is not None and ev.trace.steps:
        steps = ev.trace.steps
        return {
            "step_ms": _median([s.dur_us / 1e3 for s in steps]),
            "data_wait_ms": _median([s.dataloader_us / 1e3 for s in steps]),
            "compute_ms": _median([s.gpu_busy_us / 1e3 for s in steps]),
            "syncs_per_step": _median([float(s.syncs) for s in steps]),
            "sync_wait_ms": _median([s.sync_us / 1e3 for s in steps]),
        }
    return {}


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
