"""Markdown for PR comments and CI summaries."""

from __future__ import annotations

from typing import Any

from perfkit.escape import md_code, md_text
from perfkit.findings import Report
from perfkit.report.text import (
    RANK_COLUMNS,
    TEXT_RANK_ROWS,
    filtered_text,
    header_facts,
    location_text,
    not_checked_lines,
    notices,
    place_text,
    project_root,
    rank_rows,
    rank_rows_note,
    saving_text,
    slowest_text,
    sources_text,
    verdict_text,
)

_ICON = {"error": "🔴", "warning": "🟠", "info": "🔵"}


def render(report: Report, verbose: bool = False, **_: Any) -> str:
    lines = ["# perfkit report", ""]
    job = report.summary.get("job")
    sources = [sources_text(report)] if job else report.sources
    lines.append(f"- **Source:** {', '.join(md_code(x) for x in sources)}")
    lines += [
        f"- **{label}:** {md_code(value) if label == 'Command' else md_text(value)}"
        for label, value in header_facts(report)
    ]
    lines += [f"- **Warning:** {md_text(n)}" for n in notices(report)]
    rows = rank_rows(report, TEXT_RANK_ROWS)
    if rows:
        lines += [
            "",
            "## Ranks",
            "",
            "| " + " | ".join(t for _, t in RANK_COLUMNS) + " |",
            "|" + "---|" * len(RANK_COLUMNS),
        ]
        lines += ["| " + " | ".join(md_text(c) for c in row) + " |" for row in rows]
        cut = rank_rows_note(report, TEXT_RANK_ROWS)
        lines += ["", *([md_text(cut), ""] if cut else []), md_text(slowest_text(report))]
    lines += ["", f"## Findings ({len(report.findings)})", ""]
    if filtered_text(report):
        lines += [md_text(filtered_text(report).strip(" ()")), ""]
    if not report.findings:
        lines += [verdict_text(report), ""]
    root = project_root(report)
    for f in report.findings:
        sev = str(f.severity)
        lines.append(f"### {_ICON[sev]} {f.code} {md_code(f.rule)} — {sev}")
        lines.append("")
        lines.append(md_text(f.message))
        lines.append("")
        if f.ranks:
            lines += [md_text(place_text(f, True)).capitalize(), ""]
        elif len(report.sources) > 1:
            lines += [f"In {md_code(f.source)}", ""]
        for loc in f.locations:
            code = f" — {md_code(loc.code)}" if loc.code else ""
            lines.append(f"- {md_code(location_text(loc, root))}{code}")
        if f.locations:
            lines.append("")
        lines.append(f"**Fix:** {md_text(f.fix)}")
        lines.append("")
        lines.append(f"*{md_text(saving_text(f))}.* {md_text(f.saving_reason)}")
        lines.append("")
    if report.not_checked:
        lines += ["## Not checked", ""]
        lines += [
            f"- {md_text(rules)}: {md_text(reason)}"
            for rules, reason in not_checked_lines(report, verbose)
        ]
        lines.append("")
    return "\n".join(lines)
