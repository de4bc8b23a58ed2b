"""SARIF 2.1.0, for code scanning (``github/codeql-action/upload-sarif``): the rule catalogue,
one result a finding at the user's source lines, and what could not be checked.

Paths are URIs relative to the working directory (``%SRCROOT%``, where CI runs perfkit),
else absolute ``file:`` URIs. GitHub rejects the whole file when one result has no
location, so a finding without source lines (from a trace) is placed in the run or trace
it was found in.
"""

from __future__ import annotations

import hashlib
import os
from typing import Any
from urllib.parse import quote

from perfkit._version import __version__
from perfkit.escape import clean, json_text
from perfkit.findings import Finding, Location, Report, Severity
from perfkit.report.text import finding_line, notices, project_root, workspace_path
from perfkit.rules import all_rules
from perfkit.rules._base import Rule

SCHEMA = (
    "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
)
_LEVEL = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "note"}


def _artifact(file: str, root: str) -> dict[str, Any]:
    # Bytes of a file name that are not UTF-8 (surrogates) are percent-encoded as they are.
    path = workspace_path(file, root)
    if path is not None:
        return {"uri": quote(path, errors="surrogateescape"), "uriBaseId": "%SRCROOT%"}
    return {"uri": "file://" + quote(os.path.abspath(file), errors="surrogateescape")}


def _location(loc: Location, root: str) -> dict[str, Any]:
    physical: dict[str, Any] = {"artifactLocation": _artifact(loc.file, root)}
    if loc.line > 0:
        physical["region"] = {"startLine": loc.line}
        if loc.code:
            physical["region"]["snippet"] = {"text": clean(loc.code)}
    out: dict[str, Any] = {"physicalLocation": physical}
    if loc.function:
        out["logicalLocations"] = [{"name": clean(loc.function), "kind": "function"}]
    return out


def _rule(rule: Rule) -> dict[str, Any]:
    return {
        "id": rule.code,
        "name": rule.slug,
        "shortDescription": {"text": rule.title},
        "fullDescription": {"text": rule.why},
        "help": {
            "text": rule.fix,
            "markdown": f"{rule.fix}\n\n```python\n{rule.example}\n```",
        },
    }


def _result(f: Finding, index: dict[str, int], several_sources: bool, root: str) -> dict[str, Any]:
    locations = [_location(loc, root) for loc in f.locations] or [
        {"physicalLocation": {"artifactLocation": _artifact(f.source, "")}}
    ]
    first = f.locations[0] if f.locations else None
    # The same finding at the same statement keeps its alert when lines move above it.
    where = (_artifact(first.file, root)["uri"], first.function, first.code) if first else ()
    key = "\0".join((f.code, *where))
    fingerprint = hashlib.sha256(key.encode("utf-8", "surrogateescape")).hexdigest()
    return {
        "ruleId": f.code,
        "ruleIndex": index[f.code],
        "level": _LEVEL[f.severity],
        "message": {"text": finding_line(f, several_sources)},
        "locations": locations,
        "partialFingerprints": {"perfkitFinding/v1": fingerprint},
    }


def report_to_sarif(report: Report) -> dict[str, Any]:
    rules = all_rules()
    index = {rule.code: i for i, rule in enumerate(rules)}
    notifications = [{"level": "warning", "message": {"text": n}} for n in notices(report)]
    notifications += [
        {
            "level": "note",
            "message": {"text": f"not checked: {clean(n.reason)}"},
            "associatedRule": {"id": n.code, "index": index[n.code]},
        }
        for n in report.not_checked
    ]
    return {
        "$schema": SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "perfkit",
                        # Also what tells `-o` that the file is a perfkit report.
                        "fullName": f"perfkit report {__version__}",
                        "version": __version__,
                        "rules": [_rule(rule) for rule in rules],
                    }
                },
                "invocations": [
                    {
                        "executionSuccessful": True,
                        "toolExecutionNotifications": notifications,
                    }
                ],
                "artifacts": [
                    {"location": _artifact(source, ""), "roles": ["analysisTarget"]}
                    for source in report.sources
                ],
                "results": [
                    _result(f, index, len(report.sources) > 1, project_root(report))
                    for f in report.findings
                ],
            }
        ],
    }


def render(report: Report, **_: Any) -> str:
    return json_text(report_to_sarif(report))
