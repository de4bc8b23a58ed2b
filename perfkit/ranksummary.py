"""The rank summary: what one rank of a job brings to the job's report, in a few kilobytes.

A report of a thousand ranks cannot read a thousand run files (each keeps up to ~3,000
steps whole) and their traces in seconds. So each rank of a torchrun job reduces its own
run file and traces when its session closes — the work is spread over the job, where the
data already is — into ``summary.rank<R>.json`` beside ``run.rank<R>.json``: its row of the
rank table, its per-step phases over its last timed steps (by step index: the ranks of a
DDP job run in lockstep, so an index is the same step on every rank), what its traces say
about collectives, and what the per-rank rules found. ``perfkit report DIR`` reads these
when every rank left one (docs/run-format.md, "Rank summaries").

Like the run file, reading checks every field: a malformed summary is one
``RankSummaryError`` naming the file and the field, and the report exits with 2.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from perfkit.codec import FormatError, decode, omitted, to_json
from perfkit.errors import FileError
from perfkit.findings import Finding, Location, Severity
from perfkit.jsonio import JsonFileError, read_json
from perfkit.runfile import write_json_atomic

SCHEMA_NAME = "perfkit.rank-summary"
SCHEMA_VERSION = 1
SCHEMA = f"{SCHEMA_NAME}/{SCHEMA_VERSION}"


def summary_path(run_file: str | os.PathLike[str]) -> Path:
    """Where the summary of a rank's run file goes: ``run.rank<R>.json`` ->
    ``summary.rank<R>.json`` (not ``run.rank<R>.*``, which readers take for run files)."""
    path = Path(run_file)
    return path.with_name("summary." + path.name.removeprefix("run."))


@dataclass(frozen=True)
class Phases:
    """A rank's phases, step by step, over its last timed steps: ``i`` holds the steps'
    indices, each other field one value per step (``comm_ms`` from a trace only)."""

    i: tuple[int, ...] = ()
    step_ms: tuple[float, ...] = ()
    data_wait_ms: tuple[float, ...] = ()
    compute_ms: tuple[float, ...] = ()
    syncs: tuple[float, ...] = ()
    comm_ms: tuple[float, ...] | None = omitted()

    def series(self) -> dict[str, list[float]]:
        """The phases by name, as ``phase_series`` gives them."""
        names = ("step_ms", "data_wait_ms", "compute_ms", "comm_ms", "syncs")
        values = {name: getattr(self, name) for name in names}
        return {name: list(v) for name, v in values.items() if v is not None}

    def at(self, indexes: list[int]) -> Phases:
        """The phases of the steps ``indexes`` only (each one of ``i``), in that order."""
        where = {step: k for k, step in enumerate(self.i)}
        keep = [where[step] for step in indexes]
        picked = {name: tuple(values[k] for k in keep) for name, values in self.series().items()}
        return Phases(i=tuple(indexes), **picked)


@dataclass(frozen=True)
class Collectives:
    """The collectives of a rank's trace: what comm-bound (PK602) judges."""

    total_us: float
    overlapped_us: float  # of it, the time compute ran meanwhile
    count: float
    what: str  # "communication kernels" (GPU) or "collectives" (their host records)
    steps: int  # the profiled steps they ran in


@dataclass(frozen=True)
class FindingRecord:
    """A Finding as a summary keeps it: its source is the rank's run file, set on reading."""

    code: str
    rule: str
    severity: str
    message: str
    evidence: dict[str, Any] = field(default_factory=dict)
    fix: str = ""
    locations: tuple[Location, ...] = ()
    saving_ms: float | None = None
    saving_reason: str = ""

    @classmethod
    def of(cls, f: Finding) -> FindingRecord:
        return cls(
            f.code,
            f.rule,
            str(f.severity),
            f.message,
            f.evidence,
            f.fix,
            f.locations,
            f.saving_ms,
            f.saving_reason,
        )

    def finding(self, source: str) -> Finding:
        return Finding(
            code=self.code,
            rule=self.rule,
            severity=Severity.parse(self.severity),
            message=self.message,
            evidence=self.evidence,
            fix=self.fix,
            locations=self.locations,
            saving_ms=self.saving_ms,
            saving_reason=self.saving_reason,
            source=source,
        )


@dataclass(frozen=True)
class RankSummary:
    """One rank of a job, reduced. ``source`` is its run file (or trace) as the report
    names it: not part of the file."""

    rank: int
    schema: str = SCHEMA
    perfkit: str = ""  # what judged the findings: judge_version.judge_version()
    run_file: str = ""  # the run file's name, in the summary's directory
    run_bytes: int | None = None  # its size when reduced: a different size, a newer run
    host: str = ""
    local_rank: int | None = None
    world_size: int | None = None
    complete: bool = True
    step_count: int = 0
    median_step_ms: float | None = None
    # Medians of the phases over the rank's timed steps, and its memory peak
    row: dict[str, float | None] = field(default_factory=dict)
    phases: Phases = Phases()
    traces: tuple[str, ...] = ()  # the traces reduced, as the run file lists them
    window_off: str = ""  # why this rank recorded no profiler window, when one was asked for
    collectives: Collectives | None = None
    # For each need of a rule (evidence.Need's names), why this rank does not meet it
    # ("" when it does): job-wide rules ask whether any rank does.
    lacks: dict[str, str] = field(default_factory=dict)
    thresholds: dict[str, dict[str, float]] = field(default_factory=dict)  # judged by
    findings: tuple[FindingRecord, ...] = ()
    checked: tuple[str, ...] = ()  # the codes of the rules that could judge this rank
    not_checked: dict[str, str] = field(default_factory=dict)  # code -> why not
    notices: tuple[str, ...] = ()  # the run cut short, crashed or stopped
    cost_s: float = 0.0  # what reducing the rank took
    source: str = field(default="", metadata={"not_in_file": True})

    @classmethod
    def from_json(cls, data: Any, source: str = "") -> RankSummary:
        """Decode and check a summary's JSON; FormatError names the field."""
        if not isinstance(data, dict):
            raise FormatError("not a perfkit rank summary (top level is not an object)")
        _check_schema(data.get("schema"))
        summary = dataclasses.replace(decode(cls, data, ""), source=source)
        for k, f in enumerate(summary.findings):
            if f.severity not in {str(s) for s in Severity}:
                raise FormatError(
                    f"field 'findings[{k}].severity' should be info, warning or error, "
                    f"not {f.severity!r}"
                )
        n = len(summary.phases.i)
        for name, values in summary.phases.series().items():
            if len(values) != n:
                raise FormatError(f"field 'phases.{name}' holds {len(values)} steps, 'i' {n}")
        return summary

    def to_json(self) -> dict[str, Any]:
        return to_json(self)


def _check_schema(schema: Any) -> None:
    if not isinstance(schema, str) or not schema.startswith(SCHEMA_NAME + "/"):
        raise FormatError(f"not a perfkit rank summary (schema is {schema!r})")
    version = schema.split("/", 1)[1]
    if not version.isdecimal() or int(version) > SCHEMA_VERSION:
        raise FormatError(
            f"written by a newer perfkit (schema {schema}); this perfkit reads up to {SCHEMA}"
        )


class RankSummaryError(FileError):
    """A summary that cannot be read; the message names the file and the problem."""


def read_summary(path: str | os.PathLike[str], source: str = "") -> RankSummary:
    """Read and check a summary; ``source``: what the report calls the rank (its run file)."""
    try:
        return RankSummary.from_json(read_json(path), source)
    except JsonFileError as e:
        raise RankSummaryError(path, e.problem) from None
    except FormatError as e:
        raise RankSummaryError(path, str(e)) from None


def write_summary(run_file: str | os.PathLike[str], summary: RankSummary) -> Path:
    """Write the summary of ``run_file`` beside it, atomically."""
    path = summary_path(run_file)
    write_json_atomic(path, summary.to_json())
    return path
