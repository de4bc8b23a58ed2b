"""The report's data: findings, rules that could not be checked, and the run summary.

Plain frozen data. Rules build Findings; the engine sorts them into a Report; renderers
format a Report and never compute anything. In Jupyter a Report shows itself as HTML.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any


class Severity(enum.IntEnum):
    """error: costs >= 20% of step time; warning: >= 5%; info: hygiene, or cost unmeasured."""

    INFO = 1
    WARNING = 2
    ERROR = 3

    @classmethod
    def parse(cls, text: str) -> Severity:
        return cls[text.upper()]

    def __str__(self) -> str:
        return self.name.lower()


# Severity boundaries as shares of step time (the definitions).
ERROR_SHARE = 0.20
WARNING_SHARE = 0.05


def severity_for_share(
    share: float, error: float = ERROR_SHARE, warning: float = WARNING_SHARE
) -> Severity:
    """The severity of a finding that costs ``share`` of the step (rules call it through
    ``Evidence.severity_for_share``, which passes a project's cut-offs)."""
    if share >= error:
        return Severity.ERROR
    if share >= warning:
        return Severity.WARNING
    return Severity.INFO


@dataclass(frozen=True)
class Location:
    """A source line and how often the finding's event happened there."""

    file: str
    line: int
    function: str = ""
    code: str = ""
    count: int = 0
    # Where inside a library the event really happened, when this user line called into
    # one (``torch/optim/lbfgs.py``): shown as detail under the user's line.
    via: str = ""

    def short(self) -> str:
        name = self.file.rsplit("/", 1)[-1]
        return f"{name}:{self.line}" if self.line else name


@dataclass(frozen=True)
class Finding:
    code: str
    rule: str  # the slug
    severity: Severity
    message: str  # one line, with numbers
    evidence: dict[str, Any]
    fix: str
    locations: tuple[Location, ...] = ()
    saving_ms: float | None = None  # per step
    saving_pct: float | None = None  # of step time
    saving_reason: str = ""
    source: str = ""  # the run or trace it was found in
    # The ranks of a job it holds on, when it is one finding for several ranks; its
    # figures are those of ``source``, the rank where it costs most.
    ranks: tuple[int, ...] = ()


def rank_ranges(ranks: Iterable[int]) -> str:
    """Ranks as people write them: ``0-3, 7, 9-12``."""
    out: list[str] = []
    ordered = sorted(set(ranks))
    start = 0
    for k, rank in enumerate(ordered):
        if k + 1 < len(ordered) and ordered[k + 1] == rank + 1:
            continue
        first = ordered[start]
        out.append(str(first) if first == rank else f"{first}-{rank}")
        start = k + 1
    return ", ".join(out)


@dataclass(frozen=True)
class NotChecked:
    code: str
    rule: str
    reason: str


@dataclass(frozen=True)
class Report:
    summary: dict[str, Any]
    findings: tuple[Finding, ...]
    not_checked: tuple[NotChecked, ...]
    sources: tuple[str, ...] = field(default_factory=tuple)
    # The profiled window of the leading trace, event by event (bounded): drawn by the HTML
    # page, left out of the JSON form (the trace itself is the full record).
    timeline: dict[str, Any] | None = field(default=None, repr=False)

    def worst(self) -> Severity | None:
        return max((f.severity for f in self.findings), default=None)

    def _repr_html_(self) -> str:
        """How Jupyter shows a Report: the HTML page's content, its styles scoped to it."""
        from perfkit.report.html import fragment  # the one upward import: a display hook

        return fragment(self)
