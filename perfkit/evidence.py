"""What the rules look at: a run file, a trace summary, or both, with the derived figures
every rule needs computed once (timed steps, median step, device).
"""

from __future__ import annotations

import enum
import statistics
from collections import Counter
from dataclasses import dataclass, field
from functools import cached_property

from perfkit import sketch
from perfkit.findings import Location, Severity, severity_for_share
from perfkit.ranksummary import Collectives, RankSummary
from perfkit.runmodel import HeapScan, Probe, Run, Step, StepBlock
from perfkit.thresholds import SEVERITY, Overrides, value_of
from perfkit.trace.summary import TraceSummary


class NotApplicable(Exception):
    """Raised by a rule whose declared needs are met but whose data still cannot be judged
    (no convolution kernels to time, no compute capability); the message says why."""


class Need(enum.Enum):
    """What a rule must have to judge; the engine checks them and says which is missing."""

    RUN = "a run file"
    TRACE = "a profiler trace"
    GPU_TRACE = "a GPU trace"
    GPU = "a GPU run"
    HEAP_SCANS = "at least 3 heap scans"
    PROBE = "the probe step"
    NVML = "NVML samples"

    def __str__(self) -> str:
        return self.value


# How many heap scans a growth verdict needs: fewer cannot tell growth from noise.
MIN_HEAP_SCANS = 3


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
    # Traces of the same folder that could not be read ("<path>: <problem>"), told on the
    # first unit so that one bad file does not hide the others.
    unreadable: tuple[str, ...] = ()
    # The thresholds the project set ([tool.perfkit.thresholds]; set by the engine).
    thresholds: Overrides = field(default_factory=dict)
    # One rank of a job as its summary tells it, with neither its run file nor its trace
    # loaded: what job-wide rules read (rank, median step, phases, collectives, needs).
    reduced: RankSummary | None = None

    def severity_for_share(self, share: float) -> Severity:
        """The severity of a finding that costs ``share`` of the step, by the project's
        cut-offs (warning-share, error-share)."""
        warning, error = (value_of(self.thresholds, "", t) for t in SEVERITY)
        return severity_for_share(share, error=error, warning=warning)

    @property
    def source(self) -> str:
        if self.reduced is not None:
            return self.reduced.source
        if self.ranks:
            return f"job of {len(self.ranks)} ranks"
        if self.run is not None:
            return self.run.path
        return self.trace.path if self.trace is not None else ""

    @property
    def rank(self) -> int | None:
        """The rank this evidence comes from, when it is one rank of a distributed job."""
        if self.reduced is not None:
            return self.reduced.rank
        if self.run is not None and self.run.env.distributed.rank is not None:
            return self.run.env.distributed.rank
        rank = self.trace.distributed.get("rank") if self.trace is not None else None
        return rank if isinstance(rank, int) else None

    # -- run-file views ---------------------------------------------------------------

    def lacks(self, need: Need) -> str:
        """Why this evidence does not meet ``need`` ("" when it does). A job meets a need
        when one of its ranks does."""
        if self.ranks:
            reasons = [r.lacks(need) for r in self.ranks]
            return "" if not all(reasons) else f"{reasons[0]} on every rank"
        if self.reduced is not None:
            return self.reduced.lacks.get(need.name, "")
        run = self.run
        if need is Need.RUN:
            return "" if run is not None else "a run file (this is a trace only)"
        if need in (Need.TRACE, Need.GPU_TRACE):
            if self.trace_error:
                return f"{need}; the run's trace is unreadable: {self.trace_error}"
            if self.trace is None or not self.trace.steps:
                return f"{need} (none was recorded or it is empty)"
            if need is Need.GPU_TRACE and not self.trace.has_gpu_activity:
                return f"{need} (this trace holds no GPU activity)"
            return ""
        if need is Need.GPU:
            return "" if self.accelerator else f"{need} (this one ran on the CPU)"
        if run is None:
            return f"{need}, from a run file"
        if need is Need.HEAP_SCANS:
            enough = len(self.heap_scans) >= MIN_HEAP_SCANS
            return "" if enough else f"{need} (run longer, or graph_scan=True)"
        if need is Need.PROBE:
            return "" if run.probe is not None else f"{need} (probe_step=True)"
        util = run.samples.values("gpu_util")
        return "" if util else f"{need} (GPU utilization; pynvml found no GPU)"

    @property
    def the_run(self) -> Run:
        """The run file, for code whose rule declared it needs one (the engine checked)."""
        if self.run is None:
            raise NotApplicable(f"needs {self.lacks(Need.RUN)}")
        return self.run

    @property
    def the_probe(self) -> Probe:
        """The probe step's record, for rules that declared they need it."""
        probe = self.the_run.probe
        if probe is None:
            raise NotApplicable(f"needs {self.lacks(Need.PROBE)}")
        return probe

    @cached_property
    def heap_scans(self) -> list[HeapScan]:
        """The heap scans taken during training (the final one, after it, left out)."""
        return [g for g in (self.run.graph_scans if self.run else ()) if not g.final]

    @cached_property
    def timed_steps(self) -> list[Step]:
        """Steps that measure the loop itself: not the first, not probed or profiled, no error."""
        if self.run is None:
            return []
        steps = [s for s in self.run.steps[1:] if not s.phase and not s.error]
        return steps or list(self.run.steps)

    @cached_property
    def median_step_ms(self) -> float | None:
        if self.reduced is not None:
            return self.reduced.median_step_ms
        if self.ranks:
            medians = [r.median_step_ms for r in self.ranks if r.median_step_ms is not None]
            return statistics.median(medians) if medians else None
        if self.run is not None and self.run.step_blocks:
            return self.step_quantile(0.5)
        if self.timed_steps:
            return statistics.median(s.period_ms for s in self.timed_steps)
        if self.trace is not None and self.trace.steps:
            return statistics.median(s.dur_us for s in self.trace.steps) / 1e3
        return None

    def step_quantile(self, q: float, phase: str = "period_ms") -> float | None:
        """A quantile over the whole run of the step time (``period_ms``) or another phase
        a block keeps a sketch of (``wall_ms``, ``outside_ms``, ``data_wait_ms``): the timed
        steps kept whole and the blocks of folded steps (within 1%, sketch.py)."""
        return sketch.quantile(*self.step_sketch(phase), q)

    def step_sketch(self, phase: str = "period_ms") -> tuple[Counter[int], int]:
        """The whole run's sketch of a phase (as ``step_quantile`` names them): bucket
        counts, and how many steps were zero."""
        counts: Counter[int] = Counter()
        zeros = sketch.add_values(counts, (getattr(s, phase) for s in self.timed_steps))
        for block in self.run.step_blocks if self.run is not None else ():
            spread = getattr(block, phase)
            counts.update(spread.sketch())
            zeros += spread.zeros
        return counts, zeros

    @property
    def step_count(self) -> int:
        """Every step of the run, folded ones included (0 without a run file)."""
        return self.run.step_count if self.run is not None else 0

    @property
    def accelerator(self) -> bool | None:
        """Whether the loop ran on a GPU: from the run, else from GPU activity in the trace."""
        if self.run is not None:
            return self.run.capture.accelerator
        if self.trace is not None:
            return self.trace.has_gpu_activity
        return None

    @property
    def cores(self) -> int | None:
        """CPU cores for this process: its affinity mask, shared by the ranks on its node."""
        if self.run is None:
            return None
        env = self.run.env
        cores = env.cpu_available or env.cpu_count
        if cores is None or cores < 1:
            return None
        local = env.distributed.local_world_size
        return max(1, cores // local) if local is not None and local > 1 else cores

    def location(self, site_index: int, count: int = 0) -> Location:
        site = self.the_run.location(site_index)
        return Location(site.file, site.line, site.function, site.code, count=count)

    @property
    def memory_peak_bytes(self) -> int | None:
        """The highest per-step memory reading: CUDA allocator peak, else process RSS."""
        if self.run is None:
            return None
        readings = [s.memory.peak_or_rss_bytes for s in self.run.steps if s.memory is not None]
        readings += [b.memory_peak_bytes for b in self.run.step_blocks]
        known = [r for r in readings if r is not None]
        return max(known) if known else None

    @cached_property
    def host_read_sites(self) -> frozenset[int]:
        """Lines whose scalar reads were of host data in the probe step (an index drawn on
        the CPU to slice a numpy array): on a CPU-only run they would not wait for a GPU
        either. A GPU run never records such reads as syncs in the first place."""
        if self.run is None or self.accelerator:
            return frozenset()
        probe = self.run.probe
        return frozenset(probe.host_read_sites if probe is not None else ())

    def step_syncs(self, step: Step | StepBlock) -> int:
        """The syncs of a step (or all of a block's) that would wait for a device (reads of
        host data left out)."""
        if step.events is None:
            return 0
        syncs = step.events.syncs
        if not self.host_read_sites:
            return syncs.count
        return sum(s.count for s in syncs.sites if s.site not in self.host_read_sites)

    # -- trace views ------------------------------------------------------------------

    @property
    def the_trace(self) -> TraceSummary:
        """The trace, for code whose rule declared it needs one (the engine checked)."""
        if self.trace is None:
            raise NotApplicable(f"needs {self.lacks(Need.TRACE)}")
        return self.trace

    @property
    def gpu_trace(self) -> TraceSummary | None:
        """The trace, when it has steps and GPU activity (kernels or copies)."""
        t = self.trace
        return t if t is not None and t.steps and t.has_gpu_activity else None

    @property
    def collectives(self) -> Collectives | None:
        """The collectives of the trace (of the rank's, as its summary tells), if any."""
        if self.reduced is not None:
            return self.reduced.collectives
        return collectives_of(self.trace) if self.trace is not None else None

    def share_of_step(self, ms: float) -> float:
        """``ms`` as a share of the step: the one basis of every saving and severity."""
        step = self.median_step_ms
        return ms / step if step else 0.0


def collectives_of(trace: TraceSummary) -> Collectives | None:
    """The trace's collectives: communication kernels on a GPU, else the host records of
    collectives (``gloo:all_reduce`` ...); None when it has neither."""
    k = trace.kernels
    steps = len(trace.steps)
    if k.get("comm"):
        return Collectives(
            k["comm_us"], k["comm_overlapped_us"], k["comm"], "communication kernels", steps
        )
    if k.get("comm_cpu"):
        return Collectives(
            k["comm_cpu_us"], k["comm_cpu_overlapped_us"], k["comm_cpu"], "collectives", steps
        )
    return None


def phase_series(ev: Evidence) -> dict[str, list[float]]:
    """Per-step phases of one rank, aligned by step index: step, data wait, rest, and from a
    trace the time collectives ran."""
    if ev.reduced is not None:
        return ev.reduced.phases.series()
    if ev.run is not None and ev.timed_steps:
        timed = ev.timed_steps
        period = [s.period_ms for s in timed]
        wait = [s.data_wait_ms for s in timed]
        syncs = [float(ev.step_syncs(s)) for s in timed]
        return {
            "step_ms": period,
            "data_wait_ms": wait,
            "compute_ms": [p - w for p, w in zip(period, wait, strict=True)],
            "syncs": syncs,
        }
    if ev.trace is not None and ev.trace.steps:
        steps = ev.trace.steps
        period = [s.dur_us / 1e3 for s in steps]
        wait = [s.dataloader_us / 1e3 for s in steps]
        return {
            "step_ms": period,
            "data_wait_ms": wait,
            "compute_ms": [s.gpu_busy_us / 1e3 for s in steps],
            "comm_ms": [s.comm_us / 1e3 for s in steps],
            "syncs": [float(s.syncs) for s in steps],
        }
    return {}


def share_text(share: float) -> str:
    return f"{100 * share:.0f}%"
