"""Markdown for PR comments and CI summaries."""

from __future__ import annotations

from typing import Any

from perfkit.findings import Report
from perfkit.report.text import (
    RANK_COLUMNS,
    clean,
    header_facts,
    location_text,
    notices,
    rank_rows,
    saving_text,
    slowest_text,
    verdict_text,
)

_ICON = {"error": "🔴", "warning": "🟠", "info": "🔵"}


def md(text: object) -> str:
    """Escape what Markdown or HTML would interpret in a string from a run or trace."""
    out = clean(text)
    for ch in "\\`*_[]<>|#":
        out = out.replace(ch, "\\" + ch)
    return out


def code_span(text: object) -> str:
    body = clean(text).replace("`", "'")
    return f"`{body}`"


def render(report: Report, **_: Any) -> str:
    lines = ["# perfkit report", ""]
    lines.append(f"- **Source:** {', '.join(code_span(x) for x in report.sources)}")
    lines += [f"- **{label}:** {md(value)}" for label, value in header_facts(report)]
    lines += [f"- **Warning:** {md(n)}" for n in notices(report)]
    rows = rank_rows(report)
    if rows:
        lines += [
            "",
            "## Ranks",
            "",
            "| " + " | ".join(t for _, t in RANK_COLUMNS) + " |",
            "|" + "---|" * len(RANK_COLUMNS),
        ]
        lines += ["| " + " | ".join(md(c) for c in row) + " |" for row in rows]
        lines += ["", md(slowest_text(report))]
    lines += ["", f"## Findings ({len(report.findings)})", ""]
    if not report.findings:
        lines += [verdict_text(report), ""]
    for f in report.findings:
        sev = str(f.severity)
        lines.append(f"### {_ICON[sev]} {f.code} `{f.rule}` — {sev}")
        lines.append("")
        lines.append(md(f.message))
        lines.append("")
        if len(report.sources) > 1:
            lines += [f"In {code_span(f.source)}", ""]
        for loc in f.locations:
            code = f" — {code_span(loc.code)}" if loc.code else ""
            lines.append(f"- {code_span(location_text(loc))}{code}")
        if f.locations:
            lines.append("")
        lines.append(f"**Fix:** {md(f.fix)}")
        lines.append("")
        lines.append(f"*{md(saving_text(f))}.* {md(f.saving_reason)}")
        lines.append("")
    if report.not_checked:
        lines += ["## Not checked", ""]
        lines += [f"- {n.code} `{n.rule}`: {md(n.reason)}" for n in report.not_checked]
        lines.append("")
    return "\n".join(lines)
