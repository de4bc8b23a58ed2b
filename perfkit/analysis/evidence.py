"""What the rules look at: a run file, a trace summary, or both, with the derived figures
every rule needs computed once (timed steps, median step, device).
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from perfkit.analysis.model import Location
from perfkit.runfile import Run
from perfkit.trace.summary import TraceSummary


class NotApplicable(Exception):
    """Raised by a rule that lacks the data to judge; the message says what is missing."""


@dataclass
class Evidence:
    run: Run | None = None
    trace: TraceSummary | None = None
    # For the job as a whole: the evidence of each rank (rank-aware rules read this).
    ranks: list[Evidence] | None = None
    # Why the run's trace could not be read ("<path>: <problem>"); the run is judged alone.
    trace_error: str = ""
    # One rank of a job judged as a whole (set by the engine): job-wide rules skip it.
    in_job: bool = False

    @property
    def source(self) -> str:
        if self.ranks:
            return f"job of {len(self.ranks)} ranks"
        if self.run is not None:
            return self.run.path
        return self.trace.path if self.trace is not None else ""

    @property
    def rank(self) -> int | None:
        """The rank this evidence comes from, when it is one rank of a distributed job."""
        info = self.run.env.get("distributed", {}) if self.run is not None else {}
        if not info and self.trace is not None:
            info = self.trace.distributed
        rank = info.get("rank") if isinstance(info, dict) else None
        return rank if isinstance(rank, int) else None

    # -- run-file views ---------------------------------------------------------------

    def need_run(self, what: str = "a run file") -> Run:
        if self.run is None:
            raise NotApplicable(f"needs {what} (this is a trace only)")
        return self.run

    @cached_property
    def timed_steps(self) -> list[dict[str, Any]]:
        """Steps that measure the loop itself: not the first, not probed or profiled, no error."""
        if self.run is None:
            return []
        steps = [s for s in self.run.steps[1:] if not s.get("phase") and not s.get("error")]
        return steps or list(self.run.steps)

    def step_period_ms(self, step: dict[str, Any]) -> float:
        """A step's share of the loop: its own time plus the gap before it."""
        return float(step["wall_ms"]) + float(step.get("outside_ms") or 0.0)

    @cached_property
    def median_step_ms(self) -> float | None:
        if self.ranks:
            medians = [r.median_step_ms for r in self.ranks if r.median_step_ms is not None]
            return statistics.median(medians) if medians else None
        if self.timed_steps:
            return statistics.median(self.step_period_ms(s) for s in self.timed_steps)
        if self.trace is not None and self.trace.steps:
            return statistics.median(s.dur_us for s in self.trace.steps) / 1e3
        return None

    @property
    def accelerator(self) -> bool | None:
        """Whether the loop ran on a GPU: from the run, else from GPU activity in the trace."""
        if self.run is not None:
            return bool(self.run.capture.get("accelerator"))
        if self.trace is not None:
            return self.trace.has_gpu_activity
        return None

    @property
    def cores(self) -> int | None:
        """CPU cores for this process: its affinity mask, shared by the ranks on its node."""
        if self.run is None:
            return None
        env = self.run.env
        cores = env.get("cpu_available") or env.get("cpu_count")
        if not isinstance(cores, int) or cores < 1:
            return None
        info = env.get("distributed") or {}
        local = info.get("local_world_size") if isinstance(info, dict) else None
        return max(1, cores // local) if isinstance(local, int) and local > 1 else cores

    def need_accelerator(self) -> None:
        if not self.accelerator:
            raise NotApplicable("needs a GPU run (this one ran on the CPU)")

    def location(self, site_index: int, count: int = 0) -> Location:
        site = self.run.sites[site_index] if self.run is not None else {}
        return Location(
            file=str(site.get("file", "?")),
            line=int(site.get("line", 0) or 0),
            function=str(site.get("function", "")),
            code=str(site.get("code", "")),
            count=count,
        )

    @property
    def memory_peak_bytes(self) -> int | None:
        """The highest per-step memory reading: CUDA allocator peak, else process RSS."""
        if self.run is None:
            return None
        readings = [
            (s.get("memory") or {}).get("peak_bytes", (s.get("memory") or {}).get("rss_bytes"))
            for s in self.run.steps
        ]
        readings = [r for r in readings if r is not None]
        return max(readings) if readings else None

    def step_events(self, step: dict[str, Any], kind: str) -> Any:
        return (step.get("events") or {}).get(kind)

    @cached_property
    def host_read_sites(self) -> frozenset[int]:
        """Lines whose scalar reads were of host data in the probe step (an index drawn on
        the CPU to slice a numpy array): on a CPU-only run they would not wait for a GPU
        either. A GPU run never records such reads as syncs in the first place."""
        if self.run is None or self.accelerator:
            return frozenset()
        return frozenset(self.run.probe.get("host_read_sites") or ())

    def step_syncs(self, step: dict[str, Any]) -> int:
        """The step's syncs that would wait for a device (reads of host data left out)."""
        syncs = self.step_events(step, "syncs") or {}
        if not self.host_read_sites:
            return int(syncs.get("count", 0))
        host = self.host_read_sites
        return sum(s["count"] for s in syncs.get("sites", []) if s["site"] not in host)

    # -- trace views ------------------------------------------------------------------

    def need_trace(self, what: str = "a profiler trace") -> TraceSummary:
        if self.trace_error:
            raise NotApplicable(f"needs {what}; the run's trace is unreadable: {self.trace_error}")
        if self.trace is None or not self.trace.steps:
            raise NotApplicable(f"needs {what} (none was recorded or it is empty)")
        return self.trace


def share_text(share: float) -> str:
    return f"{100 * share:.0f}%"
