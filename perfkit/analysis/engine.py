"""analyze(): run every selected rule over every unit of evidence; one Report out. Pure.

A job of several ranks is judged rank by rank, each rank reduced to its summary
(reduce.py: what its own rules found, its phases), then as a whole from the summaries
(``analyze_job``): per-rank findings merged, job-wide rules, the rank table.
"""

from __future__ import annotations

import dataclasses
import statistics
from collections import Counter
from collections.abc import Sequence
from typing import Any

from perfkit.analysis.judge import Verdicts, priced
from perfkit.analysis.notices import NO_RULE, notices, rank_notices, unreadable_notices
from perfkit.analysis.ranks import (
    Job,
    is_job,
    job_evidence,
    merge_rank_findings,
    rank_table,
    slowest,
    step_spread,
)
from perfkit.analysis.reduce import reduce_rank
from perfkit.analysis.series import step_series
from perfkit.evidence import Evidence
from perfkit.findings import Finding, Report
from perfkit.rules import all_rules
from perfkit.rules._base import Rule
from perfkit.rules._common import sites_of
from perfkit.runmodel import Step, StepBlock, to_json
from perfkit.thresholds import SEVERITY, Overrides


def analyze(
    units: Sequence[Evidence],
    rules: Sequence[Rule] | None = None,
    unselected: Sequence[Rule] = (),
    thresholds: Overrides | None = None,
) -> Report:
    """``unselected``: rules left out by --select/--ignore; they are run only to count the
    findings the report does not show (``summary["filtered_out"]``). ``thresholds``: the
    project's ([tool.perfkit.thresholds], checked by ``thresholds_from_table``)."""
    rules = all_rules() if rules is None else rules
    if thresholds:  # every rule reads them from the evidence it judges (copies: pure)
        units = [dataclasses.replace(u, thresholds=thresholds) for u in units]
    if is_job(units):
        ranks = tuple(reduce_rank(u, [*rules, *unselected]) for u in units)
        what = "rank files" if _lead(units).run is not None else "traces"
        read = f"{len(units)} {what}, each read whole in this process"
        job = Job(_lead(units), ranks, read, units[0].unreadable)
        return analyze_job(job, rules, unselected, thresholds)
    verdicts = Verdicts()
    for ev in units:
        verdicts.judge(ev, rules, unselected)
    steps = {ev.source: ev.median_step_ms for ev in units}
    summary = summarize_units(units)
    summary["notices"] = notices(units, rules)
    sources = [ev.source for ev in units]
    return _report(priced(verdicts.findings, steps), verdicts, summary, units, thresholds, sources)


def analyze_job(
    job: Job,
    rules: Sequence[Rule] | None = None,
    unselected: Sequence[Rule] = (),
    thresholds: Overrides | None = None,
) -> Report:
    """The report of a job from its ranks' summaries: each finding of the per-rank rules
    told once with the ranks it holds on, the job-wide rules, the rank table, the slowest
    rank and the spread of step times. The header describes the lead rank."""
    rules = all_rules() if rules is None else rules
    chosen = {r.code: r for r in rules}
    left_out = {r.code for r in unselected}
    verdicts = Verdicts()
    per_rank = []
    for s in job.ranks:
        found = [f.finding(s.source) for f in s.findings if f.code in chosen]
        verdicts.filtered_out += sum(f.code in left_out for f in s.findings)
        verdicts.checked |= chosen.keys() & set(s.checked)
        for code, why in s.not_checked.items():
            if code in chosen:
                verdicts.skipped.setdefault(code, (chosen[code], why))
        per_rank.append((s.rank, priced(found, {s.source: s.median_step_ms})))
    whole = job_evidence(job.ranks, thresholds or {})
    verdicts.judge(whole, rules, unselected)
    findings = priced(verdicts.findings, {whole.source: whole.median_step_ms})
    summary = summarize_units([job.lead])
    summary["sources"] = sources = [s.source for s in job.ranks]
    summary["notices"] = [
        *([] if rules else [NO_RULE]),
        *unreadable_notices(job.unreadable),
        *rank_notices(job.ranks),
    ]
    rows = rank_table(whole)
    summary["ranks"] = rows
    summary["slowest_rank"] = slowest(rows)
    worst = summary["slowest_rank"]
    summary["rank_steps"] = step_spread(whole, worst["rank"] if worst else None)
    summary["job"] = _job_facts(job)
    findings += merge_rank_findings(per_rank)
    return _report(findings, verdicts, summary, [job.lead], thresholds, sources)


def _report(
    findings: list[Finding],
    verdicts: Verdicts,
    summary: dict[str, Any],
    units: Sequence[Evidence],
    thresholds: Overrides | None,
    sources: list[str],
) -> Report:
    """The Report: ``findings`` (priced) worst first, the header ``summary`` of ``units``
    completed."""
    findings.sort(key=lambda f: (-f.severity, -(f.saving_ms or 0.0), f.code, f.source))
    summary["rules_judged"] = len(verdicts.checked)
    summary["filtered_out"] = verdicts.filtered_out
    summary["thresholds"] = tuned_thresholds(thresholds or {})
    return Report(
        summary=summary,
        findings=tuple(findings),
        not_checked=verdicts.not_checked(),
        sources=tuple(sources),
        timeline=timeline_of(units),
    )


def _job_facts(job: Job) -> dict[str, Any]:
    """How the ranks were read, and which recorded the profiler window."""
    return {
        "ranks": len(job.ranks),
        "read": job.read,
        "profiled_ranks": [s.rank for s in job.ranks if s.traces],
        "window_off": next((s.window_off for s in job.ranks if s.window_off), ""),
    }


def tuned_thresholds(thresholds: Overrides) -> list[str]:
    """The thresholds the project set, each with its default, for the report's header:
    "data-starved min-wait-ms 5 (default 2)"."""
    declared = {"": ("", SEVERITY), **{r.code: (r.slug, r.thresholds) for r in all_rules()}}
    out = []
    for code, values in thresholds.items():
        slug, known = declared[code]
        out += [
            f"{slug} {t.name} {values[t.name]:g} (default {t.default:g})".strip()
            for t in known
            if t.name in values
        ]
    return out


def summarize_units(units: Sequence[Evidence]) -> dict[str, Any]:
    """Figures for the report header and plots; the first unit with a run leads."""
    lead = _lead(units)
    summary: dict[str, Any] = {
        "sources": [u.source for u in units],
        "median_step_ms": _round(lead.median_step_ms),
    }
    if lead.run is not None:
        summary.update(_run_summary(lead))
    if lead.trace is not None:
        summary["trace"] = _trace_summary(lead)
    return summary


def _lead(units: Sequence[Evidence]) -> Evidence:
    """The unit the summary describes: the first with a run file, else the first."""
    return next((u for u in units if u.run is not None), units[0] if units else Evidence())


def timeline_of(units: Sequence[Evidence]) -> dict[str, Any] | None:
    """The timeline of the trace the summary describes (the leading unit's)."""
    lead = _lead(units)
    if lead.trace is None or lead.trace.timeline is None:
        return None
    return {
        "source": lead.trace.path,
        "rank": lead.rank,
        **dataclasses.asdict(lead.trace.timeline),
    }


def _round(x: float | None, digits: int = 3) -> float | None:
    return round(x, digits) if x is not None else None


def _run_summary(ev: Evidence) -> dict[str, Any]:
    run = ev.the_run
    timed = ev.timed_steps
    wait = statistics.median(s.data_wait_ms for s in timed) if timed else 0.0
    env = to_json(run.env)
    return {
        "kind": "run",
        "complete": run.complete,
        "steps": run.step_count,
        "step_source": run.capture.step_source,
        "step_marker": run.capture.step_marker,
        "median_data_wait_ms": round(wait, 3),
        "device": env["device"],
        "env": {
            k: env.get(k)
            for k in (
                "host",
                "python",
                "torch",
                "cuda",
                "cudnn",
                "perfkit",
                "start_time",
                "end_time",
                "argv",
                "cpu_model",
                "cpu_available",
                "cpu_count",
                "cwd",
            )
        },
        "series": step_series(ev),
        "samples": to_json(run.samples.series),
        "nvml": run.samples.nvml,
        "top_sync_sites": _top_sites(ev, "syncs"),
        "top_transfer_sites": _top_sites(ev, "transfers"),
    }


def _top_sites(ev: Evidence, kind: str, limit: int = 8) -> list[dict[str, Any]]:
    """The busiest call sites of syncs or transfers, per step, over all steps."""
    totals: Counter[int] = Counter()
    run = ev.the_run
    steps: list[Step | StepBlock] = [*run.steps, *run.step_blocks]
    for step in steps:
        for site in sites_of(step, kind):
            if kind != "syncs" or site.site not in ev.host_read_sites:
                totals[site.site] += site.count
    n_steps = max(run.step_count, 1)
    out = []
    for index, n in totals.most_common(limit):
        loc = ev.location(index)
        out.append(
            {
                "site": f"{loc.short()} {loc.function}".strip(),
                "code": loc.code,
                "per_step": round(n / n_steps, 2),
            }
        )
    return out


def _trace_summary(ev: Evidence) -> dict[str, Any]:
    t = ev.the_trace
    window = t.window_us or 1.0
    return {
        "path": t.path,
        "device": t.device,
        "distributed": t.distributed,
        "steps": len(t.steps),
        "steps_from": t.steps_from,
        "gpu_busy_share": round(sum(s.gpu_busy_us for s in t.steps) / window, 3),
        "dataloader_share": round(sum(s.dataloader_us for s in t.steps) / window, 3),
        "step_ms": [round(s.dur_us / 1e3, 3) for s in t.steps],
        "step_names": [s.name for s in t.steps],
        # Per profiled step: where the time went, when the trace says it.
        "phases_ms": {
            "data": [round(s.dataloader_us / 1e3, 3) for s in t.steps],
            "backward": [round(s.backward_us / 1e3, 3) for s in t.steps],
            "optimizer": [round(s.optimizer_us / 1e3, 3) for s in t.steps],
            "comm": [round(s.comm_us / 1e3, 3) for s in t.steps],
        },
        # [name, calls, inclusive us, self us, share of all ops' self time]
        "top_ops": [
            [name, calls, total, own, round(own / t.op_self_us, 4) if t.op_self_us else None]
            for name, calls, total, own in t.top_ops
        ],
        "top_kernels": [list(x) for x in t.top_kernels],
        "memcpy": t.memcpy,
        "syncs": t.syncs,
    }
