"""A rule: stable code and slug, why it is slow, how to fix it, and a check over Evidence."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from perfkit.analysis.evidence import Evidence
from perfkit.analysis.model import Finding, Location, Severity


@dataclass(frozen=True)
class Rule:
    code: str
    slug: str
    title: str
    why: str  # why it is slow
    fix: str  # how to fix it, one or two sentences
    example: str  # a short before/after snippet
    check: Callable[[Evidence], list[Finding]]
    needs: str  # what data the rule reads, shown by `perfkit rules`

    def finding(
        self,
        ev: Evidence,
        severity: Severity,
        message: str,
        evidence: dict[str, Any],
        *,
        locations: tuple[Location, ...] | list[Location] = (),
        saving_ms: float | None = None,
        saving_reason: str = "",
        fix: str | None = None,
    ) -> Finding:
        """A Finding of this rule; the saving's share comes from the median step."""
        step = ev.median_step_ms
        pct = 100 * saving_ms / step if saving_ms is not None and step else None
        return Finding(
            code=self.code,
            rule=self.slug,
            severity=severity,
            message=message,
            evidence=evidence,
            fix=self.fix if fix is None else fix,
            locations=tuple(locations),
            saving_ms=round(saving_ms, 3) if saving_ms is not None else None,
            saving_pct=round(pct, 1) if pct is not None else None,
            saving_reason=saving_reason,
            source=ev.source,
        )
