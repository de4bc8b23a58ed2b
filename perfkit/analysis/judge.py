"""Rules over one unit of evidence: which rules may judge it, what they found, which could
not and why. Shared by the report of a run, of a job, and the reduction of one rank."""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field

from perfkit.evidence import Evidence, Need, NotApplicable
from perfkit.findings import Finding, NotChecked
from perfkit.rules._base import Rule, Scope


@dataclass
class Verdicts:
    """What the rules said over one or more units, gathered as they judge."""

    findings: list[Finding] = field(default_factory=list)
    checked: set[str] = field(default_factory=set)  # codes of rules that could judge
    skipped: dict[str, tuple[Rule, str]] = field(default_factory=dict)  # code -> why not
    # Findings of the rules --select/--ignore left out, counted only
    filtered_out: int = 0

    def judge(self, ev: Evidence, rules: Sequence[Rule], unselected: Sequence[Rule] = ()) -> None:
        """Every rule of ``ev``'s scope over ``ev``; ``unselected`` rules only counted."""
        for rule in unselected:
            if judges(rule, ev) and not unmet_need(rule, ev):
                with contextlib.suppress(Exception):  # counted only: a failure costs nothing
                    self.filtered_out += len(rule.check(ev))
        for rule in rules:
            if not judges(rule, ev):
                continue
            try:
                unmet = unmet_need(rule, ev)
                if unmet:
                    raise NotApplicable(unmet)
                self.findings += rule.check(ev)
                self.checked.add(rule.code)
            except NotApplicable as e:
                self.skipped.setdefault(rule.code, (rule, str(e)))
            except Exception as e:  # one broken rule must not take the whole report down
                why = f"internal error in the rule ({type(e).__name__}: {e})"
                self.skipped[rule.code] = (rule, why)

    def not_checked(self) -> tuple[NotChecked, ...]:
        """The rules that could judge no unit, each with the first reason given."""
        return tuple(
            NotChecked(code, rule.slug, reason)
            for code, (rule, reason) in sorted(self.skipped.items())
            if code not in self.checked
        )


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


def priced(findings: list[Finding], step_ms: dict[str, float | None]) -> list[Finding]:
    """Each finding's saving as a share of its source's step, capped by what is left of it."""
    return cap_savings([with_share(f, step_ms.get(f.source)) for f in findings], step_ms)
