"""Figures several rules share, computed from Evidence."""

from __future__ import annotations

import statistics
from collections import Counter
from typing import Any

from perfkit.analysis.evidence import Evidence
from perfkit.analysis.model import Location


def per_step_syncs(ev: Evidence) -> list[float]:
    """Host syncs of each timed step (0 for steps without events)."""
    return [float((ev.step_events(s, "syncs") or {}).get("count", 0)) for s in ev.timed_steps]


def site_totals(ev: Evidence, kind: str, keep=lambda site: True) -> Counter[int]:
    """Events per call site over the timed steps (``kind``: syncs or transfers)."""
    totals: Counter[int] = Counter()
    for step in ev.timed_steps:
        events = ev.step_events(step, kind) or {}
        for site in events.get("sites", []):
            if keep(site):
                totals[site["site"]] += site["count"]
    return totals


def top_locations(ev: Evidence, totals: Counter[int], steps: int, limit: int = 5) -> list[Location]:
    """The busiest sites, with their count per step (rounded)."""
    return [
        ev.location(site, count=round(n / max(steps, 1))) for site, n in totals.most_common(limit)
    ]


def median(values: list[float]) -> float:
    return statistics.median(values) if values else 0.0


def non_final_scans(ev: Evidence) -> list[dict[str, Any]]:
    return [g for g in (ev.run.graph_scans if ev.run else []) if not g.get("final")]


def steady_growth(scans: list[dict[str, Any]], key: str) -> float | None:
    """Growth per step of ``key`` when it never falls across >= 3 scans and ends higher."""
    if len(scans) < 3:
        return None
    values = [g[key] for g in scans]
    if any(b < a for a, b in zip(values, values[1:])) or values[-1] <= values[0]:
        return None
    steps = scans[-1]["step"] - scans[0]["step"]
    return (values[-1] - values[0]) / steps if steps > 0 else None


def code_of(loc: Location) -> str:
    return f" `{loc.code}`" if loc.code else ""
