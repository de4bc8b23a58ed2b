"""The terminal report: rich layout and colour on a TTY, plain text elsewhere."""

from __future__ import annotations

import io
from typing import Any

from rich.console import Console, Group
from rich.padding import Padding
from rich.panel import Panel
from rich.text import Text

from perfkit.analysis.model import Finding, Report, Severity
from perfkit.report.text import clean, location_text, saving_text

_STYLE = {Severity.ERROR: "bold red", Severity.WARNING: "bold yellow", Severity.INFO: "bold cyan"}


def _finding(f: Finding) -> Panel:
    body = [Text(clean(f.message))]
    for loc in f.locations:
        line = Text("  at ", style="dim").append(location_text(loc), style="bold")
        if loc.code:
            line.append("  ").append(clean(loc.code), style="green")
        body.append(line)
    body.append(Text("fix: ", style="bold").append(clean(f.fix)))
    body.append(
        Text(saving_text(f), style="magenta").append(
            f" — {clean(f.saving_reason)}" if f.saving_reason else "", style="dim"
        )
    )
    title = Text(f"{f.code} {f.rule}", style=_STYLE[f.severity]).append(
        f"  {f.severity}", style=_STYLE[f.severity]
    )
    return Panel(Group(*body), title=title, title_align="left", border_style=_STYLE[f.severity])


def _header(report: Report) -> Text:
    s = report.summary
    text = Text("perfkit report", style="bold").append("  " + ", ".join(map(clean, report.sources)))
    facts = []
    if s.get("steps") is not None:
        facts.append(f"{s['steps']} steps ({clean(s.get('step_source'))})")
    if s.get("median_step_ms") is not None:
        facts.append(f"median step {s['median_step_ms']:.2f} ms")
    device = s.get("device") or (s.get("trace") or {}).get("device") or {}
    if device.get("name"):
        facts.append(clean(device["name"]))
    if facts:
        text.append("\n" + " · ".join(facts), style="dim")
    return text


def render(report: Report, color: bool = False, width: int = 100, **_: Any) -> str:
    out = io.StringIO()
    console = Console(
        file=out,
        width=width,
        force_terminal=color,
        color_system="standard" if color else None,
        highlight=False,
        emoji=False,
    )
    console.print(_header(report))
    console.print()
    if not report.findings:
        console.print(Text("No problems found.", style="bold green"))
    for f in report.findings:
        console.print(_finding(f))
    if report.not_checked:
        console.print(Text("Not checked:", style="bold"))
        for n in report.not_checked:
            console.print(
                Padding(
                    Text(f"{n.code} {n.rule}: ", style="dim").append(clean(n.reason)), (0, 0, 0, 2)
                )
            )
    counts = {sev: sum(f.severity == sev for f in report.findings) for sev in Severity}
    console.print(
        Text(
            f"\n{counts[Severity.ERROR]} error(s), {counts[Severity.WARNING]} warning(s), "
            f"{counts[Severity.INFO]} info",
            style="bold",
        )
    )
    return out.getvalue()
