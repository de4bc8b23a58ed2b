"""What a reader must know before any finding: a run cut short, a crash, no steps, a trace
that could not be read. Told for a run, a folder of traces, or the ranks of a job."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from perfkit.evidence import Evidence
from perfkit.findings import rank_ranges
from perfkit.ranksummary import RankSummary
from perfkit.rules._base import Rule

NO_RULE = "no rule was selected: nothing was checked (see --select/--ignore)"


def notices(units: Sequence[Evidence], rules: Sequence[Rule]) -> list[str]:
    """The notices of the units, each run's named by its file when there are several."""
    out = [] if rules else [NO_RULE]
    for ev in units:
        out += unreadable_notices(ev.unreadable)
        if ev.run is not None:
            where = f"{ev.run.path}: " if len(units) > 1 else ""
            out += [where + line for line in run_notices(ev)]
    return out


def unreadable_notices(problems: Sequence[str]) -> list[str]:
    """Traces of a folder that could not be read ("<path>: <problem>")."""
    return [f"{problem}; the report covers the other traces" for problem in problems]


def rank_notices(ranks: Sequence[RankSummary]) -> list[str]:
    """The ranks' notices, each told once with the ranks it holds on (a killed job would
    otherwise say the same thing once per rank)."""
    holders: dict[str, list[RankSummary]] = {}
    for summary in ranks:
        for line in summary.notices:
            holders.setdefault(line, []).append(summary)
    out = []
    for line, which in holders.items():
        many = f"ranks {rank_ranges(r.rank for r in which)}"
        where = which[0].source if len(which) == 1 else many
        out.append(f"{where}: {line}")
    return out


def run_notices(ev: Evidence) -> list[str]:
    """A run file's notices, without its name."""
    run = ev.run
    if run is None:
        return []
    out = []
    error = run.env.error
    failed = [s for s in run.steps if s.error]
    # Without steps, the notice below says what that means for the report.
    at = f" after {run.step_count} steps" if run.steps else " before the first step"
    covers = "; the report covers the steps before it" if run.steps else ""
    if run.env.interrupted:
        out.append(
            f"the process was stopped by {run.env.interrupted}{at}; the run was saved{covers}"
        )
    if error:
        out.append(f"the training stopped with {error_line(error)}{at}{covers}")
    elif failed:
        out.append(f"step {failed[0].i} raised {failed[0].error}")
    if not run.complete:
        out.append(
            "incomplete run: the process ended before perfkit finished the file "
            f"(killed, crashed hard, or still running); {run.step_count} steps recorded"
        )
    if not run.steps:
        out.append("no training steps were recorded, so most rules cannot judge")
    return out + _window_not_reached(run)


# An exception's message as a notice shows it: this long at most (the run file keeps it
# whole).
MAX_ERROR_CHARS = 200
# Terminal colour and style codes some libraries put in their messages (torch.load does)
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def error_line(error: str) -> str:
    """``Type: message`` as one short line: styling codes dropped, line breaks and runs of
    spaces made one space, cut at MAX_ERROR_CHARS."""
    text = " ".join(_ANSI.sub("", error).split())
    if len(text) > MAX_ERROR_CHARS:
        text = text[: MAX_ERROR_CHARS - 1].rstrip() + "…"
    return text


def _window_not_reached(run: Any) -> list[str]:
    """The profiler window starts after WAIT+WARMUP steps: a shorter run has no trace."""
    window = run.capture.window
    if run.traces or not window or run.capture.window_error or not run.steps:
        return []
    wait, warmup, active = window[:3]
    needed = wait + warmup + active
    if run.step_count >= needed:
        return []
    spec = ",".join(map(str, window[:3]))
    return [
        f"no profiler trace was recorded: the window {spec} needs {needed} steps and the run "
        f"had {run.step_count}; a shorter one (--window 0,1,1) records one"
    ]
