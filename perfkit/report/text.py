"""Helpers shared by the text renderers: the wording of savings, locations and headers."""

from __future__ import annotations

from perfkit.escape import clean
from perfkit.findings import Finding, Location, Report


def verdict_text(report: Report) -> str:
    """What to say when there are no findings: only "no problems" when rules could judge."""
    if report.summary.get("rules_judged", 1):
        return "No problems found."
    return "Nothing could be judged: every rule lacked the data it needs (see Not checked)."


def notices(report: Report) -> list[str]:
    """Warnings to show before anything else (a crashed, interrupted or incomplete run)."""
    return [clean(n) for n in report.summary.get("notices") or []]


def saving_text(f: Finding) -> str:
    if f.saving_ms is None:
        return "saving: not measurable from this data"
    pct = f" ({f.saving_pct:.0f}% of the step)" if f.saving_pct is not None else ""
    return f"saves ~{f.saving_ms:.2f} ms/step{pct}"


def location_text(loc: Location) -> str:
    where = f"{loc.file}:{loc.line}" if loc.line else loc.file
    if loc.function:
        where += f" in {loc.function}"
    if loc.count:
        where += f" (x{loc.count})"
    if loc.via:
        where += f", inside {loc.via}"
    return clean(where)


def header_facts(report: Report) -> list[tuple[str, str]]:
    """(label, value) pairs for a report's header: steps, median step, device (unescaped)."""
    s = report.summary
    facts = []
    if s.get("steps") is not None:
        facts.append(("Steps", f"{s['steps']} (boundaries: {s.get('step_source')})"))
    if s.get("median_step_ms") is not None:
        # A trace alone times only the profiled steps, which run slower under the profiler.
        label = "Median step" if s.get("kind") == "run" else "Median profiled step"
        facts.append((label, f"{s['median_step_ms']:.2f} ms"))
    device = s.get("device") or (s.get("trace") or {}).get("device") or {}
    if device.get("name"):
        facts.append(("Device", str(device["name"])))
    return facts


RANK_COLUMNS = (
    ("rank", "rank"),
    ("step_ms", "step ms"),
    ("data_wait_ms", "data wait ms"),
    ("compute_ms", "compute ms"),  # run files: step minus data wait; traces: GPU busy
    ("comm_ms", "comm ms"),  # traces: time collectives ran
    ("syncs", "syncs/step"),
    ("memory_peak_bytes", "memory peak MiB"),
)


def rank_rows(report: Report) -> list[list[str]]:
    """The per-rank table as strings, in RANK_COLUMNS order (empty for single-process runs)."""
    rows = []
    for row in report.summary.get("ranks") or []:
        cells = []
        for key, _ in RANK_COLUMNS:
            value = row.get(key)
            if value is None:
                cells.append("-")
            elif key == "memory_peak_bytes":
                cells.append(f"{value / 2**20:.0f}")
            elif isinstance(value, float):
                cells.append(f"{value:.2f}")
            else:
                cells.append(clean(value))
        rows.append(cells)
    return rows


def slowest_text(report: Report) -> str:
    worst = report.summary.get("slowest_rank")
    if not worst:
        return ""
    pct = worst.get("vs_median_pct")
    return (
        f"slowest rank: {worst['rank']} ({worst['step_ms']:.2f} ms a step, "
        f"{pct:+.1f}% vs the median rank)"
    )
