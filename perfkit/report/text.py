"""Helpers shared by the text renderers: the wording of savings, locations and headers."""

from __future__ import annotations

import os
import shlex
from pathlib import Path, PurePath

from perfkit.escape import clean, terminal_line
from perfkit.findings import Finding, Location, Report, Severity, rank_ranges


def verdict_text(report: Report) -> str:
    """What to say when there are no findings: only "no problems" when rules could judge."""
    if report.summary.get("kind") == "run" and report.summary.get("steps") == 0:
        return "Nothing could be judged: no training steps were recorded."
    if report.summary.get("rules_judged", 1):
        return "No problems found."
    return "Nothing could be judged: every rule lacked the data it needs (see Not checked)."


def notices(report: Report) -> list[str]:
    """Warnings to show before anything else (a crashed, interrupted or incomplete run)."""
    return [terminal_line(n) for n in report.summary.get("notices") or []]


def saving_text(f: Finding) -> str:
    if f.saving_ms is None:
        return "saving: not measurable from this data"
    pct = f" ({f.saving_pct:.0f}% of the step)" if f.saving_pct is not None else ""
    return f"saves ~{f.saving_ms:.2f} ms/step{pct}"


def place_text(f: Finding, several_sources: bool) -> str:
    """Where a finding holds: the ranks of a job (its figures from one of them), else its
    run or trace when the report has several ("" otherwise). Unescaped."""
    if len(f.ranks) == 1:
        return f"on rank {f.ranks[0]} ({f.source})"
    if f.ranks:
        return f"on ranks {rank_ranges(f.ranks)} ({len(f.ranks)} ranks); figures from {f.source}"
    return f"in {f.source}" if several_sources else ""


def sources_text(report: Report) -> str:
    """What the report is of: its runs or traces, or a job's folder and its ranks."""
    job = report.summary.get("job")
    if job and report.sources:
        return f"{os.path.dirname(report.sources[0]) or '.'} (job of {job['ranks']} ranks)"
    return ", ".join(report.sources)


def finding_line(f: Finding, with_source: bool = False) -> str:
    """A finding on one line, for formats with one message a finding (CI annotations);
    ``with_source`` when the report has several runs or traces."""
    line = f"{clean(f.message)} — fix: {clean(f.fix)} — {saving_text(f)}"
    place = place_text(f, with_source)
    return f"{line} ({clean(place)})" if place else line


def tally_text(report: Report) -> str:
    """The count of findings by severity that ends a report."""
    counts = {sev: sum(f.severity == sev for f in report.findings) for sev in Severity}
    return (
        f"{counts[Severity.ERROR]} error(s), {counts[Severity.WARNING]} warning(s), "
        f"{counts[Severity.INFO]} info"
    )


def workspace_path(file: str, root: str = "") -> str | None:
    """``file`` relative to the working directory, with ``/``: CI runs perfkit at the
    repository's root, and GitHub matches such paths to the repository's files. A run
    captured in another checkout is placed by its own project root (``root``). None for a
    file outside both (a library)."""
    path = PurePath(os.path.normpath(file)) if file else PurePath()
    if path.is_absolute():
        for base in (Path.cwd(), PurePath(root) if root else None):
            if base is not None and path.is_relative_to(base):
                path = path.relative_to(base)
                break
        else:
            return None
    if not path.parts or path.parts[0] == "..":
        return None
    return path.as_posix()


def location_text(loc: Location, root: str = "") -> str:
    file = shown_path(loc.file, root)
    where = f"{file}:{loc.line}" if loc.line else file
    if loc.function:
        where += f" in {loc.function}"
    if loc.count:
        where += f" (x{loc.count})"
    if loc.via:
        where += f", inside {loc.via}"
    return terminal_line(where)


def header_facts(report: Report) -> list[tuple[str, str]]:
    """(label, value) pairs for a report's header: steps, median step, device (unescaped)."""
    s = report.summary
    facts = []
    if s.get("steps") is not None:
        marked_by = s.get("step_marker") or s.get("step_source")
        boundaries = f" (boundaries: {marked_by})" if marked_by else ""
        facts.append(("Steps", f"{s['steps']:,}{boundaries}"))
    if s.get("median_step_ms") is not None:
        # A trace alone times only the profiled steps, which run slower under the profiler.
        label = "Median step" if s.get("kind") == "run" else "Median profiled step"
        facts.append((label, duration_text(s["median_step_ms"])))
    machine = machine_text(s)
    if machine:
        facts.append(("Device", machine))
    argv = (s.get("env") or {}).get("argv")
    if argv:
        facts.append(("Command", command_text([str(a) for a in argv])))
    facts += job_facts(s)
    if s.get("thresholds"):  # findings were judged by the project's numbers, not perfkit's
        facts.append(("Thresholds", "; ".join(map(str, s["thresholds"]))))
    return facts


def duration_text(ms: float) -> str:
    """A time for people: "12.34 ms", or "1.6 µs" for a step too short for 0.00 ms."""
    return f"{ms:.2f} ms" if ms >= 0.1 or ms == 0 else f"{ms * 1e3:.2g} µs"


def job_facts(summary: dict) -> list[tuple[str, str]]:
    """For a job: how its ranks were read, and which recorded the profiler window."""
    job = summary.get("job")
    if not job:
        return []
    facts = [("Ranks", f"{job['ranks']}, read from {job['read']}")]
    profiled = job.get("profiled_ranks") or []
    if job.get("window_off") and len(profiled) < job["ranks"]:
        why = f"; the others record none: {job['window_off']}" if job.get("window_off") else ""
        which = rank_ranges(profiled) if profiled else "none"
        facts.append(("Profiled ranks", f"{which} ({len(profiled)} of {job['ranks']}){why}"))
    return facts


def command_text(argv: list[str]) -> str:
    """argv as a shell command line; ``python -m pkg`` records pkg/__main__.py's full path."""
    first = argv[0]
    if os.path.basename(first) == "__main__.py":
        first = f"python -m {os.path.basename(os.path.dirname(first))}"
    else:
        first = shlex.quote(shown_path(first))
    return " ".join([first, *map(shlex.quote, argv[1:])])


def machine_text(summary: dict) -> str:
    """The accelerator, and the host CPU with the cores the process could use (runs
    record them; a trace names only its GPU)."""
    device = summary.get("device") or (summary.get("trace") or {}).get("device") or {}
    env = summary.get("env") or {}
    model, usable, total = env.get("cpu_model"), env.get("cpu_available"), env.get("cpu_count")
    cores = (
        ""
        if not usable
        else f"{usable} of {total} cores"
        if total and total > usable
        else (f"{usable} cores")
    )
    cpu = ", ".join(str(x) for x in (model, cores) if x)
    if device.get("type") == "cpu":
        return f"CPU ({cpu})" if cpu else f"CPU ({device.get('name')})"
    name = str(device.get("name") or "")
    return f"{name} · CPU ({cpu})" if name and cpu else name


def project_root(report: Report) -> str:
    """The directory the run was started from: its source lines are shown relative to it,
    so a report reads the same on every machine (a trace records none)."""
    return str((report.summary.get("env") or {}).get("cwd") or "")


def shown_path(path: str, root: str = "") -> str:
    """A recorded path as its reader would type it: relative to the project root (or to
    the current directory) when under it, absolute otherwise (a library's file)."""
    if not os.path.isabs(path):
        return path
    for base in (root, os.getcwd()):
        if base and os.path.isabs(base):
            relative = os.path.relpath(path, base)
            if not relative.startswith(".."):
                return relative
    return path


def filtered_text(report: Report) -> str:
    """How many findings --select/--ignore kept out of the report ("" when none)."""
    n = report.summary.get("filtered_out") or 0
    return f" ({n} more left out by --select/--ignore)" if n else ""


# Rules sharing one reason to be unchecked are told on one line from this many on.
FOLD_FROM = 3


def not_checked_lines(report: Report, verbose: bool = False) -> list[tuple[str, str]]:
    """(rules, reason) per line of "Not checked": rules that lack the same data share one
    line (a trace alone leaves most rules without a run file), unless ``verbose``."""
    by_reason: dict[str, list[str]] = {}
    for n in report.not_checked:
        by_reason.setdefault(n.reason, []).append(f"{n.code} {n.rule}")
    lines = []
    for n in report.not_checked:
        rules = by_reason.get(n.reason)
        if rules is None:
            continue  # its line was written with the first rule of its reason
        if verbose or len(rules) < FOLD_FROM:
            lines.append((f"{n.code} {n.rule}", n.reason))
            continue
        codes = ", ".join(r.split()[0] for r in rules)
        lines.append((f"{codes} ({len(rules)} rules)", n.reason))
        del by_reason[n.reason]
    return lines


RANK_COLUMNS = (
    ("rank", "rank"),
    ("step_ms", "step ms"),
    ("data_wait_ms", "data wait ms"),
    ("compute_ms", "compute ms"),  # run files: step minus data wait; traces: GPU busy
    ("comm_ms", "comm ms"),  # traces: time collectives ran
    ("syncs", "syncs/step"),
    ("memory_peak_bytes", "memory peak MiB"),
)


# The text formats show at most this many ranks, the slowest (JSON and HTML show every one).
TEXT_RANK_ROWS = 16


def rank_rows(report: Report, limit: int | None = None) -> list[list[str]]:
    """The per-rank table as strings, in RANK_COLUMNS order (empty for single-process runs);
    past ``limit`` ranks, the ``limit`` slowest."""
    ranks = report.summary.get("ranks") or []
    if limit is not None and len(ranks) > limit:
        ranks = sorted(ranks, key=lambda r: -(r.get("step_ms") or 0.0))[:limit]
    rows = []
    for row in ranks:
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
                cells.append(terminal_line(value))
        rows.append(cells)
    return rows


def rank_rows_note(report: Report, limit: int) -> str:
    """What a table cut to ``limit`` ranks leaves out ("" when it shows every rank)."""
    n = len(report.summary.get("ranks") or [])
    if n <= limit:
        return ""
    return f"the {limit} slowest of {n} ranks; every rank in -f json or -f html"


def slowest_text(report: Report) -> str:
    worst = report.summary.get("slowest_rank")
    if not worst:
        return ""
    pct = worst.get("vs_median_pct")
    return (
        f"slowest rank: {worst['rank']} ({worst['step_ms']:.2f} ms a step, "
        f"{pct:+.1f}% vs the median rank)"
    )
