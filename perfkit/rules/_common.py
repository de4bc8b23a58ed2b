"""Figures several rules share, computed from Evidence."""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Callable, Sequence
from itertools import pairwise
from typing import Any

from perfkit.evidence import Evidence
from perfkit.findings import Location
from perfkit.runmodel import HeapScan, Holder, LoaderConfig, Step, StepBlock


def per_step_syncs(ev: Evidence, steps: list[Step] | None = None) -> list[float]:
    """Host syncs of each timed step (0 for steps without events), reads of host data left out."""
    return [float(ev.step_syncs(step)) for step in (ev.timed_steps if steps is None else steps)]


def sites_of(step: Step | StepBlock, kind: str) -> tuple[Any, ...]:
    """The step's sync or transfer sites (``kind``: syncs or transfers); () without events."""
    return getattr(step.events, kind).sites if step.events is not None else ()


def site_totals(ev: Evidence, kind: str, keep: Callable[[Any], bool] | None = None) -> Counter[int]:
    """Events per call site over the timed steps (``kind``: syncs or transfers)."""
    totals: Counter[int] = Counter()
    host = ev.host_read_sites if kind == "syncs" else frozenset()
    for step in ev.timed_steps:
        for site in sites_of(step, kind):
            if site.site not in host and (keep is None or keep(site)):
                totals[site.site] += site.count
    return totals


def top_locations(ev: Evidence, totals: Counter[int], steps: int, limit: int = 5) -> list[Location]:
    """The busiest sites, with their count per step (rounded)."""
    return [
        ev.location(site, count=round(n / max(steps, 1))) for site, n in totals.most_common(limit)
    ]


def median(values: list[float]) -> float:
    return statistics.median(values) if values else 0.0


def low_median(values: list[float]) -> float:
    """The lower end of a 95% confidence interval of the median (order statistics): a
    figure that clears a threshold here clears it run after run, not by chance."""
    if not values:
        return 0.0
    ordered = sorted(values)
    n = len(ordered)
    k = max(0, int(n / 2 - 1.96 * n**0.5 / 2))
    return ordered[k]


# A series grows when it rises between at least this many pairs of consecutive scans ...
MIN_RISES = 3
# ... rises at least this many times as often as it falls (noise rises and falls alike;
# a sawtooth scanned three times an epoch rises twice per fall) ...
MIN_RISES_PER_FALL = 1.5


def series(scans: Sequence[HeapScan], key: str) -> list[tuple[int, float]]:
    """(step, value of ``key``) of each scan."""
    return [(g.step, getattr(g, key)) for g in scans]


def sustained_growth(
    points: list[tuple[int, float]], rises_per_fall: float = MIN_RISES_PER_FALL
) -> float | None:
    """Growth per step of a series of (step, value) while it rises, when it keeps rising
    across the run.

    Judged from the changes between consecutive scans, not from the first and last alone:
    a leak rises again and again and may fall back when its owner is reset (a running
    total or a list cleared every epoch: a sawtooth), so falls are allowed as long as rises
    dominate and the series still rises in the second half of the run. A one-time step-up
    (optimizer state created at the first step, a tensor stored once), a plateau (a history
    of bounded size, LBFGS's) and noise do not count: a series that is noisy by nature
    (live tensor bytes) asks for a higher ``rises_per_fall``. Returns the median rise per
    step over the rising intervals.
    """
    rates, late_rise, falls = [], False, 0
    for i, ((s0, v0), (s1, v1)) in enumerate(pairwise(points)):
        if v1 > v0 and s1 > s0:
            rates.append((v1 - v0) / (s1 - s0))
            late_rise = late_rise or 2 * (i + 1) > len(points) - 1
        elif v1 < v0:
            falls += 1
    if len(rates) < MIN_RISES or len(rates) < rises_per_fall * falls or not late_rise:
        return None
    return statistics.median(rates)


def net_growth(scans: Sequence[HeapScan], key: str) -> float:
    """How much ``key`` rose from the first scan to the last."""
    return float(getattr(scans[-1], key) - getattr(scans[0], key)) if scans else 0.0


# A loader feeds the loop when it gave batches to at least this share of the steps the
# busiest loader fed: both loaders of ``zip(labeled, unlabeled)`` do, an evaluation loader
# iterated once an epoch between steps does not.
FEEDING_SHARE = 0.5


def feeding_loaders(loaders: Sequence[LoaderConfig]) -> list[LoaderConfig]:
    """The loaders that gave the steps their batches; all of them for a run file that did
    not record it."""
    most = max((d.steps_fed or 0 for d in loaders), default=0)
    if not most:
        return list(loaders)
    return [d for d in loaders if (d.steps_fed or 0) >= FEEDING_SHARE * most]


def loader_locations(ev: Evidence, loaders: Sequence[LoaderConfig]) -> list[Location]:
    """Where the loaders were built: the line to change for a DataLoader finding."""
    sites = {d.site for d in loaders if d.site is not None}
    return [ev.location(site) for site in sorted(sites)]


def holder_location(held: Holder) -> Location:
    """The line a heap scan found adding to the variable that keeps memory alive."""
    return Location(file=held.file, line=held.line, function=held.function, code=held.code)


def code_of(loc: Location) -> str:
    return f" `{loc.code}`" if loc.code else ""
