"""One rank of a job reduced to its summary (perfkit/ranksummary.py).

Run by the rank itself when its session closes, on the run file it just wrote and its own
traces; by ``perfkit report`` for the ranks that left no summary (rankfiles.py, in worker
processes); and by ``analyze`` on ranks already loaded. The same code each time, so a report reads
the same from summaries as from run files.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path

from perfkit.analysis.judge import Verdicts
from perfkit.analysis.notices import run_notices
from perfkit.analysis.ranks import rank_row
from perfkit.evidence import Evidence, Need, phase_series
from perfkit.judge_version import judge_version
from perfkit.ranksummary import FindingRecord, Phases, RankSummary
from perfkit.rules import all_rules
from perfkit.rules._base import Rule

# The steps whose phases a summary keeps: the rank's last timed ones. Enough for the
# straggler rule's persistence and the spread chart; bounded, so a summary stays a few
# tens of kilobytes and a report of a thousand ranks reads them in seconds.
PHASE_STEPS = 1000


def reduce_rank(ev: Evidence, rules: Sequence[Rule] | None = None) -> RankSummary:
    """``ev`` (one rank, its run file and trace loaded) as its summary: its row, its last
    timed steps' phases, its collectives, and what ``rules`` (all: the report chooses)
    found on it alone. Judged by ``ev.thresholds``."""
    if ev.rank is None:
        raise ValueError(f"{ev.source}: not a rank of a job")
    verdicts = Verdicts()
    verdicts.judge(dataclasses.replace(ev, in_job=True), all_rules() if rules is None else rules)
    run, env = ev.run, ev.run.env if ev.run is not None else None
    traces = run.traces if run is not None else (Path(ev.trace.path).name,) if ev.trace else ()
    return RankSummary(
        rank=ev.rank,
        perfkit=judge_version(),
        host=env.host if env is not None else "",
        local_rank=env.distributed.local_rank if env is not None else None,
        world_size=env.distributed.world_size if env is not None else None,
        complete=run.complete if run is not None else True,
        step_count=ev.step_count,
        median_step_ms=ev.median_step_ms,
        row=rank_row(ev),
        phases=_last_phases(ev),
        traces=tuple(traces),
        window_off=run.capture.window_off if run is not None else "",
        collectives=ev.collectives,
        lacks={need.name: ev.lacks(need) for need in Need},
        thresholds={code: dict(values) for code, values in ev.thresholds.items()},
        findings=tuple(FindingRecord.of(f) for f in verdicts.findings),
        checked=tuple(sorted(verdicts.checked)),
        not_checked={code: why for code, (_, why) in sorted(verdicts.skipped.items())},
        notices=tuple(run_notices(ev)),
        source=ev.source,
    )


def _last_phases(ev: Evidence) -> Phases:
    """The phases of the rank's last PHASE_STEPS timed steps, by step index (a trace's
    steps by their position in it)."""
    series = phase_series(ev)
    if not series:
        return Phases()
    n = len(series["step_ms"])
    from_run = ev.run is not None and bool(ev.timed_steps)  # as phase_series chose
    steps = [s.i for s in ev.timed_steps] if from_run else list(range(n))
    keep = slice(max(0, n - PHASE_STEPS), n)
    values = {name: tuple(round(v, 4) for v in vs[keep]) for name, vs in series.items()}
    return Phases(i=tuple(steps[keep]), **values)
