"""The canonical, versioned JSON form of a Report (docs/report-format.md)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from perfkit.escape import json_text
from perfkit.findings import Finding, Report

SCHEMA = "perfkit.report/1"


def finding_to_json(f: Finding) -> dict[str, Any]:
    ranks = {"ranks": list(f.ranks)} if f.ranks else {}  # a finding of a job's ranks
    return {
        "code": f.code,
        "rule": f.rule,
        "severity": str(f.severity),
        "message": f.message,
        "evidence": f.evidence,
        "locations": [asdict(loc) for loc in f.locations],
        "fix": f.fix,
        "saving_ms": f.saving_ms,
        "saving_pct": f.saving_pct,
        "saving_reason": f.saving_reason,
        "source": f.source,
        **ranks,
    }


def report_to_json(report: Report) -> dict[str, Any]:
    return {
        "schema": SCHEMA,
        "summary": report.summary,
        "findings": [finding_to_json(f) for f in report.findings],
        "not_checked": [asdict(n) for n in report.not_checked],
    }


def render(report: Report, **_: Any) -> str:
    return json_text(report_to_json(report))
