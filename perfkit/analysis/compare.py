"""Compare two inputs: the speedup of the median step and whether it is beyond noise, what a
step is made of in each, which findings were fixed or are new, and what differs in their
setups. The seeds judge an optimisation by its speedup; so do we.

A job of several ranks is compared slowest rank with slowest rank, then median rank with
median rank (``representatives``); the slowest ranks, whose step is the job's step, decide
a regression.
"""

from __future__ import annotations

import os
import statistics
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from perfkit import sketch
from perfkit.analysis.differences import differences
from perfkit.analysis.engine import analyze
from perfkit.analysis.inputs import load_inputs
from perfkit.analysis.noise import StepChange, sketched_change, step_change
from perfkit.analysis.notices import notices
from perfkit.analysis.ranks import representatives
from perfkit.evidence import Evidence, phase_series
from perfkit.findings import Report
from perfkit.rules import chosen_rules
from perfkit.rules._base import Rule
from perfkit.thresholds import Overrides

# The parts of the step; ``phases`` gives them at the median step, so they add up to it.
STEP_PARTS = ("data_wait_ms", "compute_ms")


@dataclass(frozen=True)
class Pair:
    """One unit of each input side by side: the two runs (or traces), or two ranks."""

    base: str
    new: str
    speedup: float | None  # base median step / new median step
    step: StepChange | None  # the change of the median step, with its noise interval
    phases: dict[str, tuple[float | None, float | None]]  # name -> (base, new)
    fixed: tuple[str, ...]  # "PK101 host-sync"
    new_findings: tuple[str, ...]
    remaining: tuple[str, ...]


@dataclass(frozen=True)
class Comparison:
    """What ``perfkit.compare`` returns."""

    base: str  # the inputs as given
    new: str
    pairs: dict[str, Pair]  # "" for a run or a trace; "slowest rank", "median rank" for jobs
    differences: tuple[str, ...]  # "preset: cnn -> iris": settings the two record differently
    # What a reader must know first: an input cut short, crashed or stopped by a signal.
    notices: tuple[str, ...] = ()

    @property
    def headline(self) -> Pair:
        """The pair that stands for the inputs: the runs, or the slowest ranks."""
        return next(iter(self.pairs.values()))

    def regressed(self, pct: float) -> bool:
        """The median step got slower by more than ``pct`` percent, beyond noise: the lower
        end of its 95% interval is above zero too. Without an interval (an input of one
        step) the change alone decides."""
        step = self.headline.step
        if step is None or step.change <= pct / 100:
            return False
        return step.interval is None or step.interval[0] > 0


def compare(
    base: str | os.PathLike[str],
    new: str | os.PathLike[str],
    select: list[str] | None = None,
    ignore: list[str] | None = None,
    thresholds: Overrides | None = None,
) -> Comparison:
    """Read, analyze and compare two inputs; bad input (a key naming no rule too) raises
    InputError. ``select``/``ignore``: the rules whose findings are compared, as report's;
    ``thresholds``: the project's, checked."""
    rules = chosen_rules(select, ignore)
    base_units, new_units = load_inputs(base), load_inputs(new)
    before, after = representatives(base_units), representatives(new_units)
    keys = [k for k in before if k in after] or [""]
    units = {
        key: (
            before.get(key, next(iter(before.values()))),
            after.get(key, next(iter(after.values()))),
        )
        for key in keys
    }
    first_base, first_new = next(iter(units.values()))
    return Comparison(
        base=str(base),
        new=str(new),
        pairs={key: _pair(b, n, rules, thresholds) for key, (b, n) in units.items()},
        differences=differences(first_base, first_new),
        notices=tuple(
            f"{side}: {line}"
            for side, units in (("base", base_units), ("new", new_units))
            for line in notices(units, rules)
        ),
    )


def _pair(
    base: Evidence, new: Evidence, rules: Sequence[Rule], thresholds: Overrides | None
) -> Pair:
    before, after = phases(base), phases(new)
    names = list(dict.fromkeys([*before, *after]))
    b_step, n_step = before.get("step_ms"), after.get("step_ms")
    old = _labels(analyze([base], rules, thresholds=thresholds))
    now = _labels(analyze([new], rules, thresholds=thresholds))
    return Pair(
        base=base.source,
        new=new.source,
        speedup=b_step / n_step if b_step and n_step else None,
        step=(
            sketched_change(_step_sketch(base), _step_sketch(new))
            if _folded(base) or _folded(new)
            else step_change(_steps(base), _steps(new))
        ),
        phases={k: (before.get(k), after.get(k)) for k in names},
        fixed=tuple(v for k, v in sorted(old.items()) if k not in now),
        new_findings=tuple(v for k, v in sorted(now.items()) if k not in old),
        remaining=tuple(v for k, v in sorted(now.items()) if k in old),
    )


def _steps(ev: Evidence) -> list[float]:
    return phase_series(ev).get("step_ms", [])


def _step_sketch(ev: Evidence) -> tuple[Counter[int], int]:
    """The input's step times as a sketch: a long run's own, else its steps counted in."""
    if _folded(ev):
        return ev.step_sketch()
    counts: Counter[int] = Counter()
    return counts, sketch.add_values(counts, _steps(ev))


def _folded(ev: Evidence) -> bool:
    """A long run: most of its steps are in blocks, and its steps are what phase_series
    gives (a run of timed steps, not a reduced rank or a trace)."""
    return (
        ev.reduced is None
        and ev.run is not None
        and bool(ev.timed_steps)
        and bool(ev.run.step_blocks)
    )


def phases(ev: Evidence) -> dict[str, float | None]:
    """What a step is made of. The median step, and its data wait and the rest (everything
    else) at the median step, so that the parts add up to it: with an even number of steps,
    the mean of the two middle steps. Counts and sync wait are medians per step; GPU busy
    (of a trace) is too, and overlaps the parts; the memory peak is the highest reading."""
    series = phase_series(ev)
    if not series:
        return {}
    step, wait = series["step_ms"], series["data_wait_ms"]
    middle = _middle(step)
    out: dict[str, float | None] = {
        "step_ms": statistics.fmean(step[i] for i in middle),
        "data_wait_ms": statistics.fmean(wait[i] for i in middle),
        "compute_ms": statistics.fmean(step[i] - wait[i] for i in middle),
    }
    from_run = ev.run is not None and bool(ev.timed_steps)  # as phase_series chose
    if _folded(ev):
        # A long run: the whole run's median step, as the report's, and its median wait.
        whole, waits = ev.step_quantile(0.5), ev.step_quantile(0.5, "data_wait_ms")
        if whole is not None and waits is not None:
            waits = min(waits, whole)
            out.update(step_ms=whole, data_wait_ms=waits, compute_ms=whole - waits)
    if not from_run:
        out["gpu_busy_ms"] = statistics.median(s.gpu_busy_us / 1e3 for s in ev.the_trace.steps)
    out["syncs_per_step"] = statistics.median(series["syncs"])
    if from_run:
        totals = [
            s.events.transfers.totals.values() if s.events is not None else ()
            for s in ev.timed_steps
        ]
        out["transfers_per_step"] = statistics.median(
            [float(sum(t["count"] for t in x)) for x in totals]
        )
        out["transfer_bytes_per_step"] = statistics.median(
            [float(sum(t["bytes"] for t in x)) for x in totals]
        )
        out["memory_peak_bytes"] = ev.memory_peak_bytes
    else:
        out["sync_wait_ms"] = statistics.median(s.sync_us / 1e3 for s in ev.the_trace.steps)
    return out


def _middle(values: list[float]) -> list[int]:
    """The index of the median value, or of the two middle ones when their number is even."""
    order = sorted(range(len(values)), key=values.__getitem__)
    half = len(order) // 2
    return order[half - 1 : half + 1] if len(order) % 2 == 0 else [order[half]]


def _labels(report: Report) -> dict[str, str]:
    return {f.code: f"{f.code} {f.rule}" for f in report.findings}
