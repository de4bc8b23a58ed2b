"""The terminal report: rich layout and colour on a TTY, plain text elsewhere."""

from __future__ import annotations

import io
import re
from typing import Any

from rich.console import Console, Group
from rich.padding import Padding
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from perfkit.escape import terminal_line
from perfkit.findings import Finding, Report, Severity
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
    tally_text,
    verdict_text,
)

# The colour codes that may end a line, after the spaces rich pads it with.
_CLOSING_CODES = re.compile(r"(?:\x1b\[[0-9;]*m)*$")


def _without_trailing_spaces(text: str) -> str:
    """Each line without the padding at its end (linear: a regex of spaces then codes would
    backtrack over every space of a wide line)."""
    lines = []
    for line in text.split("\n"):
        codes = _CLOSING_CODES.search(line)
        cut = codes.start() if codes else len(line)
        lines.append(line[:cut].rstrip(" ") + line[cut:])
    return "\n".join(lines)


_STYLE = {Severity.ERROR: "bold red", Severity.WARNING: "bold yellow", Severity.INFO: "bold cyan"}


def _finding(f: Finding, several_sources: bool, root: str) -> Panel:
    body = [Text(terminal_line(f.message))]
    place = place_text(f, several_sources)
    if place:
        body.append(Text("  ", style="dim").append(terminal_line(place), style="dim"))
    for loc in f.locations:
        line = Text("  at ", style="dim").append(location_text(loc, root), style="bold")
        if loc.code:
            line.append("  ").append(terminal_line(loc.code), style="green")
        body.append(line)
    body.append(Text("fix: ", style="bold").append(terminal_line(f.fix)))
    body.append(
        Text(saving_text(f), style="magenta").append(
            f" — {terminal_line(f.saving_reason)}" if f.saving_reason else "", style="dim"
        )
    )
    title = Text(f"{f.code} {f.rule}", style=_STYLE[f.severity]).append(
        f"  {f.severity}", style=_STYLE[f.severity]
    )
    return Panel(Group(*body), title=title, title_align="left", border_style=_STYLE[f.severity])


def _header(report: Report) -> Text:
    text = Text("perfkit report", style="bold").append("  " + terminal_line(sources_text(report)))
    facts = dict(header_facts(report))
    command = facts.pop("Command", None)
    tuned = facts.pop("Thresholds", None)
    if facts:
        text.append(
            "\n" + " · ".join(f"{k.lower()} {terminal_line(v)}" for k, v in facts.items()),
            style="dim",
        )
    if command:
        text.append(f"\n$ {terminal_line(command)}", style="dim")
    if tuned:
        text.append(f"\nthresholds set by the project: {terminal_line(tuned)}", style="dim")
    return text


def render(
    report: Report, color: bool = False, width: int = 100, verbose: bool = False, **_: Any
) -> str:
    out = io.StringIO()
    console = Console(
        file=out,
        width=width,
        force_terminal=color,
        color_system="standard" if color else None,
        highlight=False,
        force_jupyter=False,  # a string for the caller, not a display in a notebook
        emoji=False,
    )
    console.print(_header(report))
    for notice in notices(report):
        console.print(Text("! ", style="bold red").append(notice, style="bold"))
    console.print()
    rows = rank_rows(report, TEXT_RANK_ROWS)
    if rows:
        table = Table(*(title for _, title in RANK_COLUMNS), box=None, header_style="bold")
        for row in rows:
            table.add_row(*map(Text, row))  # Text: "[red]" in data is not rich markup
        console.print(table)
        cut = rank_rows_note(report, TEXT_RANK_ROWS)
        console.print(Text((f"{cut}\n" if cut else "") + slowest_text(report), style="dim"))
        console.print()
    if not report.findings:
        judged = report.summary.get("rules_judged", 1)
        console.print(Text(verdict_text(report), style="bold green" if judged else "bold"))
    for f in report.findings:
        console.print(_finding(f, len(report.sources) > 1, project_root(report)))
    if report.not_checked:
        console.print(Text("Not checked:", style="bold"))
        for rules, reason in not_checked_lines(report, verbose):
            console.print(
                Padding(Text(f"{rules}: ", style="dim").append(terminal_line(reason)), (0, 0, 0, 2))
            )
    console.print(
        Text(f"\n{tally_text(report)}", style="bold").append(filtered_text(report), style="dim")
    )
    return _without_trailing_spaces(out.getvalue())
