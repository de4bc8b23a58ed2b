"""GitHub Actions workflow commands: an annotation a finding and source line, then a summary.

``::warning file=train.py,line=62,title=PK101 host-sync::message`` shows the finding on that
line of the pull request ("Workflow commands for GitHub Actions"). GitHub finds ``file`` in
the repository, so it is given relative to the working directory, where CI runs perfkit;
a line outside it (a library, another checkout) is named in the message instead.
"""

from __future__ import annotations

from typing import Any

from perfkit.escape import github_data, github_property, terminal_line
from perfkit.findings import Finding, Location, Report, Severity
from perfkit.report.text import (
    finding_line,
    location_text,
    notices,
    project_root,
    sources_text,
    tally_text,
    verdict_text,
    workspace_path,
)

_COMMAND = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "notice"}


def _annotation(f: Finding, loc: Location | None, several_sources: bool, root: str) -> str:
    props = []
    message = finding_line(f, several_sources)
    path = workspace_path(loc.file, root) if loc else None
    if path:
        props.append(f"file={github_property(path)}")
        if loc and loc.line > 0:
            props.append(f"line={loc.line}")
    elif loc:
        message = f"at {location_text(loc, root)}: {message}"
    props.append(f"title={github_property(f'{f.code} {f.rule}')}")
    return f"::{_COMMAND[f.severity]} {','.join(props)}::{github_data(message)}"


def render(report: Report, **_: Any) -> str:
    # A crashed or incomplete run says so first, as in every format.
    lines = [f"::warning title=perfkit::{github_data(n)}" for n in notices(report)]
    several = len(report.sources) > 1
    for f in report.findings:
        root = project_root(report)
        lines += [_annotation(f, loc, several, root) for loc in f.locations or [None]]
    outcome = tally_text(report) if report.findings else verdict_text(report)
    if report.not_checked:
        outcome += f"; {len(report.not_checked)} rule(s) not checked"
    # Plain text, on one line whatever the sources' names: it ends the log, not a command.
    lines.append(terminal_line(f"perfkit report {sources_text(report)}: {outcome}"))
    return "\n".join(lines) + "\n"
