"""analyze(): run every selected rule over every unit of evidence; one Report out. Pure."""

from __future__ import annotations

import contextlib
import dataclasses
import statistics
from collections import Counter
from collections.abc import Sequence
from typing import Any

from perfkit.analysis.ranks import job_of, rank_table, slowest, step_spread
from perfkit.analysis.series import step_series
from perfkit.evidence import Evidence, Need, NotApplicable
from perfkit.findings import Finding, NotChecked, Report
from perfkit.rules import all_rules
from perfkit.rules._base import Rule, Scope
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
    filtered_out = 0
    findings: list[Finding] = []
    skipped: dict[str, tuple[Rule, str]] = {}
    checked: set[str] = set()
    job = job_of(units)
    if job is not None:  # its ranks are judged as one job by job-wide rules (copies: pure)
        job.thresholds = units[0].thresholds if units else {}
        members = {id(r) for r in job.ranks or []}
        units = [dataclasses.replace(u, in_job=True) if id(u) in members else u for u in units]
    for ev in [*units, job] if job is not None else units:
        for rule in unselected:
            if judges(rule, ev) and not unmet_need(rule, ev):
                with contextlib.suppress(Exception):  # counted only: a failure costs nothing
                    filtered_out += len(rule.check(ev))
        for rule in rules:
            if not judges(rule, ev):
                continue
            try:
                unmet = unmet_need(rule, ev)
                if unmet:
                    raise NotApplicable(unmet)
                findings += rule.check(ev)
                checked.add(rule.code)
            except NotApplicable as e:
                skipped.setdefault(rule.code, (rule, str(e)))
            except Exception as e:  # one broken rule must not take the whole report down
                skipped[rule.code] = (rule, f"internal error in the rule ({type(e).__name__}: {e})")
    not_checked = tuple(
        NotChecked(code, rule.slug, reason)
        for code, (rule, reason) in sorted(skipped.items())
        if code not in checked
    )
    steps = {ev.source: ev.median_step_ms for ev in [*units, *([job] if job else [])]}
    findings = cap_savings([with_share(f, steps.get(f.source)) for f in findings], steps)
    findings.sort(key=lambda f: (-f.severity, -(f.saving_ms or 0.0), f.code, f.source))
    summary = summarize_units(units)
    summary["notices"] = notices(units, rules)
    summary["rules_judged"] = len(checked)
    summary["filtered_out"] = filtered_out
    summary["thresholds"] = tuned_thresholds(thresholds or {})
    if job is not None:
        rows = rank_table(job)
        summary["ranks"] = rows
        summary["slowest_rank"] = slowest(rows)
        worst = summary["slowest_rank"]
        summary["rank_steps"] = step_spread(job, worst["rank"] if worst else None)
    return Report(
        summary=summary,
        findings=tuple(findings),
        not_checked=tuple(not_checked),
        sources=tuple(ev.source for ev in units),
        timeline=timeline_of(units),
    )


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


def judges(rule: Rule, ev: Evidence) -> bool:
    """Whether ``ev`` is a unit of the rule's scope: a rank of a job is judged by per-run
    rules, the job by job-wide ones, a lone run by both (job rules then say why not)."""
    if ev.ranks:
        return rule.scope is not Scope.RUN
    return not (ev.in_job and rule.scope is not Scope.RUN)


def unmet_need(rule: Rule, ev: Evidence) -> str:
    """Why ``rule`` cannot judge ``ev`` ("" when it can): for each alternative of its needs,
    the first that is missing."""
    if rule.scope is Scope.JOB and not ev.ranks:
        return "needs the runs or traces of several ranks of one job"
    missing: list[str] = []
    for alternative in rule.needs:
        gaps = [gap for gap in (ev.lacks(need) for need in alternative) if gap]
        if not gaps:
            return ""
        if gaps[0] not in missing:
            missing.append(gaps[0])
    cpu_only = ev.lacks(Need.GPU)
    if cpu_only in missing:  # no other alternative can help a run without a GPU
        missing = [cpu_only]
    return "needs " + ", or ".join(missing) if missing else ""


def with_share(f: Finding, step_ms: float | None) -> Finding:
    """The saving as a share of the source's median step: one basis for every rule."""
    if f.saving_ms is None or not step_ms:
        return f
    return dataclasses.replace(f, saving_pct=round(100 * f.saving_ms / step_ms, 1))


def cap_savings(findings: list[Finding], step_ms: dict[str, float | None]) -> list[Finding]:
    """Savings of one source never add up to more than its step: taken largest first, each
    is capped by what the ones before it left of the step (fixes overlap: time saved once
    cannot be saved again)."""
    left = {k: v for k, v in step_ms.items() if v is not None}
    out = []
    for f in sorted(findings, key=lambda f: -(f.saving_ms or 0.0)):
        step = left.get(f.source)
        saving = f.saving_ms
        if saving is None or step is None:
            out.append(f)
            continue
        if saving > step:
            saving = step
            whole = step_ms[f.source]
            pct = round(100 * step / whole, 1) if whole else None
            f = dataclasses.replace(
                f,
                saving_ms=round(step, 3),
                saving_pct=pct,
                saving_reason=f"{f.saving_reason} Capped at what the larger savings above "
                "leave of the step.",
            )
        left[f.source] = step - saving
        out.append(f)
    return out


def notices(units: Sequence[Evidence], rules: Sequence[Rule]) -> list[str]:
    """What a reader must know before any finding: a run cut short, a crash, no steps."""
    out = []
    if not rules:
        out.append("no rule was selected: nothing was checked (see --select/--ignore)")
    for ev in units:
        out += [f"{problem}; the report covers the other traces" for problem in ev.unreadable]
        run = ev.run
        if run is None:
            continue
        where = f"{run.path}: " if len(units) > 1 else ""
        error = run.env.error
        failed = [s for s in run.steps if s.error]
        at = f" after {run.step_count} steps" if run.steps else " before the first step"
        if run.env.interrupted:
            out.append(
                f"{where}the process was stopped by {run.env.interrupted}{at}; the run was "
                "saved, and the report covers the steps before it"
            )
        if error:
            out.append(
                f"{where}the training stopped with {error}{at}; the report covers "
                "the steps before it"
            )
        elif failed:
            out.append(f"{where}step {failed[0].i} raised {failed[0].error}")
        if not run.complete:
            out.append(
                f"{where}incomplete run: the process ended before perfkit finished the file "
                f"(killed, crashed hard, or still running); {run.step_count} steps recorded"
            )
        if not run.steps:
            out.append(f"{where}no training steps were recorded, so most rules cannot judge")
        out += [where + line for line in _window_not_reached(run)]
    return out


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
