"""A rule: stable code and slug, what it needs and over what scope, its documentation, and
a check over Evidence. The engine decides from ``scope`` and ``needs`` whether the rule can
judge a unit at all; ``check`` only runs where it can."""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from perfkit.evidence import Evidence, Need
from perfkit.findings import Finding, Location, Severity


class Scope(enum.Enum):
    """What a rule judges: one process, or the ranks of a job together."""

    RUN = "each run or trace on its own (every rank of a job too)"
    JOB = "the ranks of one job together"
    WIDEST = "the whole job when there is one, else the run on its own"


@dataclass(frozen=True)
class Rule:
    code: str
    slug: str
    title: str
    why: str  # why it is slow
    fix: str  # how to fix it, one or two sentences
    example: str  # a short before/after snippet
    check: Callable[[Evidence], list[Finding]]
    reads: str  # what data the rule reads, shown by `perfkit rules`
    # Alternatives, any one of which lets the rule judge: ((RUN,), (GPU_TRACE,)) reads a
    # run file or else a GPU trace. Empty: it judges whatever it is given.
    needs: tuple[tuple[Need, ...], ...] = ((Need.RUN,),)
    scope: Scope = Scope.RUN

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
        """A Finding of this rule; the engine adds the saving's share of the step."""
        return Finding(
            code=self.code,
            rule=self.slug,
            severity=severity,
            message=message,
            evidence=evidence,
            fix=self.fix if fix is None else fix,
            locations=tuple(locations),
            saving_ms=round(saving_ms, 3) if saving_ms is not None else None,
            saving_reason=saving_reason,
            source=ev.source,
        )
