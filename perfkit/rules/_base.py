"""A rule: its documentation (the module docstring, the single source of ``perfkit explain``,
the report's fix and example), what it needs and over what scope, and a check over Evidence.
The engine decides from ``scope`` and ``needs`` whether the rule can judge a unit at all;
``check`` only runs where it can."""

from __future__ import annotations

import enum
import re
import textwrap
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from perfkit.evidence import Evidence, Need
from perfkit.findings import Finding, Location, Severity
from perfkit.thresholds import Threshold, value_of


class Scope(enum.Enum):
    """What a rule judges: one process, or the ranks of a job together."""

    RUN = "each run or trace on its own (every rank of a job too)"
    JOB = "the ranks of one job together"
    WIDEST = "the whole job when there is one, else the run on its own"


# The sections every rule's docstring has, in this order, and the attribute each fills.
SECTIONS = {
    "What it detects": "detects",
    "Why it is slow": "why",
    "Example": "example",
    "Fix": "fix",
    "Saving": "saving",
}
_HEADER = re.compile(r"(PK\d{3}) ([a-z0-9]+(?:-[a-z0-9]+)*): (.+?)\.?")


class RuleDocError(ValueError):
    """A rule docstring without its header line or one of its sections."""


def parse_doc(doc: str | None) -> dict[str, str]:
    """code, slug, title and one text per section from a rule docstring:

    ``PK101 host-sync: Title.`` then ``## What it detects``, ``## Why it is slow``,
    ``## Example`` (an indented before/after snippet), ``## Fix`` and ``## Saving``."""
    header, _, body = (doc or "").strip().partition("\n")
    match = _HEADER.fullmatch(header.strip())
    if match is None:
        raise RuleDocError(f"the first line must read 'PKNNN slug: Title.', not {header!r}")
    parsed = dict(zip(("code", "slug", "title"), match.groups(), strict=True))
    chunks = re.split(r"^## (.+?)\s*$", body, flags=re.M)
    found = dict(zip(chunks[1::2], chunks[2::2], strict=True))
    missing = [name for name in SECTIONS if not found.get(name, "").strip()]
    if missing:
        raise RuleDocError(f"{parsed['code']}: no '## {missing[0]}' section in its docstring")
    for name, attr in SECTIONS.items():
        text = textwrap.dedent(found[name]).strip("\n")
        parsed[attr] = text.strip() if attr == "example" else _prose(text)
    return parsed


def _prose(text: str) -> str:
    """Paragraphs on one line each (wrapping is the renderer's job); indented blocks kept."""
    out = []
    for para in re.split(r"\n\s*\n", text.strip()):
        lines = para.splitlines()
        if all(line.startswith("    ") for line in lines):
            out.append(textwrap.dedent(para))
        else:
            out.append(" ".join(line.strip() for line in lines).replace("``", "`"))
    return "\n\n".join(out)


@dataclass(frozen=True)
class Rule:
    doc: str  # the rule module's docstring, parsed into the fields below
    check: Callable[[Evidence], list[Finding]]
    reads: str  # what data the rule reads, shown by `perfkit rules`
    # Alternatives, any one of which lets the rule judge: ((RUN,), (GPU_TRACE,)) reads a
    # run file or else a GPU trace. Empty: it judges whatever it is given.
    needs: tuple[tuple[Need, ...], ...] = ((Need.RUN,),)
    scope: Scope = Scope.RUN
    # The numbers it judges by that a project may set ([tool.perfkit.thresholds.<slug>]).
    thresholds: tuple[Threshold, ...] = ()
    code: str = field(init=False)
    slug: str = field(init=False)
    title: str = field(init=False)
    detects: str = field(init=False)
    why: str = field(init=False)  # why it is slow
    example: str = field(init=False)  # a short before/after snippet
    fix: str = field(init=False)  # how to fix it
    saving: str = field(init=False)  # how the saving is estimated

    def __post_init__(self) -> None:
        for name, value in parse_doc(self.doc).items():
            object.__setattr__(self, name, value)
        names = [t.name for t in self.thresholds]
        assert len(set(names)) == len(names), f"{self.code}: a threshold declared twice"

    def threshold(self, ev: Evidence, name: str) -> float:
        """The value of this rule's threshold ``name`` for ``ev``: the project's, else the
        default. A name the rule did not declare is a bug (KeyError)."""
        declared = {t.name: t for t in self.thresholds}[name]
        return value_of(ev.thresholds, self.code, declared)

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
        """A Finding of this rule; the engine adds the saving's share of the step. Its
        evidence says which of the rule's thresholds the project set."""
        tuned = ev.thresholds.get(self.code)
        if tuned:
            evidence = {**evidence, "thresholds": dict(tuned)}
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
