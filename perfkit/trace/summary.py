"""Turn a Kineto trace into a compact TraceSummary: per-step figures, not per-event objects.

One pass classifies events by category (old Kineto spells them ``Operator``/``Runtime``/
``Kernel``/``Memcpy``, new ones ``cpu_op``/``cuda_runtime``/``kernel``/``gpu_memcpy``; ROCm
traces use ``hip*`` runtime names) and keeps only compact columns: start, end, an interned
name and thread per event (about 20 bytes, not a dict), plus running totals. Events arrive in
batches from :mod:`perfkit.trace.stream`, so memory grows with the number of CPU/GPU events
kept, never with the file's text. Per-step figures are then computed over the columns with
numpy. The summary is what rules read: they never see raw events.
"""

from __future__ import annotations

import os
import re
from collections import Counter
from dataclasses import dataclass, field
from itertools import compress
from typing import Any

import numpy as np

from perfkit.trace.columns import (
    CPU,
    KERNEL,
    MEMCPY,
    MEMSET,
    PYTHON,
    RUNTIME,
    Batch,
    Column,
    Names,
)
from perfkit.trace.events import Args, Event, Metadata, sane
from perfkit.trace.intervals import Intervals, nesting
from perfkit.trace.stream import TraceStream
from perfkit.trace.timeline import Source, Timeline, build_timeline, gpu_kind, lane_labels

# Kernels shorter than this are "tiny": launching them costs about as much as running them.
TINY_KERNEL_US = 10.0
# Host calls that block until the device catches up.
SYNC_APIS = re.compile(
    r"^(cuda|hip)(StreamSynchronize|DeviceSynchronize|EventSynchronize|Memcpy|MemcpySync)$"
)
SCALAR_READS = ("aten::_local_scalar_dense",)
DATALOADER = "enumerate(DataLoader)"
OPTIMIZER = ("Optimizer.step#", "Optimizer.zero_grad#")
BACKWARD = "autograd::engine::evaluate_function"
NCCL = re.compile(r"nccl|rccl|ncclDevKernel|c10d::|gloo", re.I)
# Host-side collective records (record_param_comms): "gloo:all_reduce", "nccl:all_gather" ...
CPU_COMM = re.compile(r"^(gloo|nccl|rccl|ucc|mpi|xccl):", re.I)
# Kernel names that use tensor cores (a heuristic shared with HTA and the trace provenance).
TENSOR_CORE = re.compile(
    r"h884|h1688|s1688|hmma|xmma|wgmma|sm80_|sm90_|tensorop|_16816|i8816", re.I
)
GEMM_OR_CONV = re.compile(r"gemm|conv|cutlass|cublas|matmul|wgrad|dgrad|fprop", re.I)

# How far back (in a thread's Python frames) to look for the frames enclosing a scalar read.
# A copy of over a petabyte is a corrupt or hostile file's, and is left out.
MAX_COPY_BYTES = 1e15
ENCLOSING_FRAMES_WINDOW = 400
# What a CPU op's name says it is; per-step figures sum these (first match wins).
_OTHER, _DATA, _SCALAR, _OPTIM, _BACKWARD = range(5)


@dataclass
class TraceStep:
    name: str
    start_us: float
    dur_us: float
    dataloader_us: float = 0.0
    backward_us: float = 0.0  # union of autograd engine work (nested ops counted once)
    optimizer_us: float = 0.0  # Optimizer.step / zero_grad
    sync_us: float = 0.0
    comm_us: float = 0.0  # union of collectives: NCCL kernels, else the host's records
    syncs: int = 0
    scalar_reads: int = 0
    gpu_busy_us: float = 0.0
    kernels: int = 0
    tiny_kernels: int = 0
    cpu_ops: int = 0


@dataclass
class TraceSummary:
    path: str
    device: dict[str, Any]
    distributed: dict[str, Any]
    steps: list[TraceStep]
    steps_from: str  # "ProfilerStep" or "whole trace"
    memcpy: dict[str, dict[str, float]]  # "HtoD pageable" -> {count, bytes, dur_us}
    syncs: dict[str, dict[str, float]]  # API name -> {count, dur_us}
    scalar_reads: int
    scalar_read_sites: list[tuple[str, int]]  # ("train.py:57 step", count)
    kernels: dict[str, float]
    # (name, calls, inclusive us, self us), the most self time first: inclusive time counts
    # an op's children too, so it repeats down the call chain.
    top_ops: list[tuple[str, int, float, float]] = field(default_factory=list)
    top_kernels: list[tuple[str, int, float]] = field(default_factory=list)
    events: int = 0
    op_self_us: float = 0.0  # self time of every CPU op: what op shares are of
    timeline: Timeline | None = None

    @property
    def has_gpu_activity(self) -> bool:
        return self.kernels.get("count", 0) > 0 or bool(self.memcpy)

    @property
    def window_us(self) -> float:
        return sum(s.dur_us for s in self.steps)


def summarize(data: dict[str, Any], path: str = "<trace>") -> TraceSummary:
    """Summarize a trace already decoded into memory."""
    collector = _Collector()
    collector.add([sane(e) for e in data["traceEvents"]])
    return collector.finish(data, path)


def summarize_file(path: str | os.PathLike[str]) -> TraceSummary:
    """Summarize a trace file batch by batch. Raises NotStreamable for a file that must be
    read whole (see :mod:`perfkit.trace.stream`), JsonFileError for an unreadable one."""
    stream = TraceStream(path)
    collector = _Collector()
    for batch in stream.batches():
        collector.add(batch)
    return collector.finish(stream.header, str(path))


class _Collector:
    """Folds batches of events into columns and running totals.

    A batch is taken apart a field at a time (a list of names, an array of times ...) and
    its events grouped by category with numpy, so that the Python work per event is a few
    list items, not a pass through branches (2.5x faster). Only the rare events (steps,
    syncs, copies, scalar reads) are looked at one by one, in the order they came."""

    def __init__(self) -> None:
        self.events = 0
        self.profiler_steps: list[tuple[float, float, str, Any]] = []
        # CPU threads by tid, GPU streams by ("gpu", pid, tid): one index each.
        self.threads: dict[Any, int] = {}
        self.thread_names: dict[Any, str] = {}  # (pid, tid) -> the trace's own name
        self.cpu, self.cpu_names = Column(), Names()
        self.kernel, self.kernel_names = Column(), Names()
        self.python, self.python_names = Column(), Names()
        self.copies, self.copy_names = Column(), Names()  # memcpy/memset: GPU busy
        self.scalar_stacks: list[tuple[float, int, Any]] = []
        self.memcpy: dict[str, dict[str, float]] = {}
        self.syncs: dict[str, dict[str, float]] = {}
        self.sync_times = Column()
        self.runtime = 0
        self.rocm = False
        self.runtime_span = [float("inf"), float("-inf")]

    def add(self, events: list[Any]) -> None:
        """Fold in a batch of decoded events (:mod:`perfkit.trace.events`)."""
        self.events += len(events)
        for e in [e for e in events if type(e) is Metadata]:
            self._metadata(e)
        batch = Batch.complete([e for e in events if type(e) is Event], self.threads)
        kind = batch.kind
        self._cpu(batch, np.flatnonzero(kind == CPU))
        self._runtime(batch, np.flatnonzero(kind == RUNTIME))
        batch.fold(self.kernel, self.kernel_names, np.flatnonzero(kind == KERNEL))
        copies = np.flatnonzero((kind == MEMCPY) | (kind == MEMSET))
        batch.fold(self.copies, self.copy_names, copies)
        for i in np.flatnonzero(kind == MEMCPY).tolist():
            self._memcpy(batch.name[i], float(batch.dur[i]), batch.events[i].args)
        batch.fold(self.python, self.python_names, np.flatnonzero(kind == PYTHON))

    def _cpu(self, batch: Batch, rows: np.ndarray) -> None:
        names = [batch.name[i] for i in rows.tolist()]
        unique = set(names)
        steps = {n for n in unique if n.startswith("ProfilerStep#")}
        if steps:
            step = np.array([n in steps for n in names], dtype=bool)
            for i in rows[step].tolist():
                timing = float(batch.ts[i]), float(batch.dur[i])
                self.profiler_steps.append((*timing, batch.name[i], batch.thread_key[i]))
            rows = rows[~step]
        batch.fold(self.cpu, self.cpu_names, rows)
        if not unique.isdisjoint(SCALAR_READS):
            for i in rows.tolist():
                if batch.name[i] in SCALAR_READS:
                    args = batch.events[i].args
                    stack = args.call_stack if args is not None else None
                    self.scalar_stacks.append((float(batch.ts[i]), int(batch.thread[i]), stack))

    def _runtime(self, batch: Batch, rows: np.ndarray) -> None:
        if not len(rows):
            return
        names = [batch.name[i] for i in rows.tolist()]
        if self.runtime < 2000 and any(n.startswith("hip") for n in names[: 2000 - self.runtime]):
            self.rocm = True
        self.runtime += len(rows)
        ts, dur = batch.ts[rows], batch.dur[rows]
        span = self.runtime_span
        span[0], span[1] = min(span[0], float(ts.min())), max(span[1], float((ts + dur).max()))
        syncs = {n for n in set(names) if SYNC_APIS.match(n)}
        if not syncs:
            return
        sync = np.array([n in syncs for n in names], dtype=bool)
        # One by one, in order: the sums are those of reading the events one at a time.
        for name, d in zip(compress(names, sync.tolist()), dur[sync].tolist(), strict=False):
            slot = self.syncs.setdefault(name, {"count": 0, "dur_us": 0.0})
            slot["count"] += 1
            slot["dur_us"] += d
        self.sync_times.extend(ts[sync], dur[sync], 0, 0)

    def _metadata(self, e: Metadata) -> None:
        name = e.args.name if e.args is not None else None
        if e.name == "thread_name" and isinstance(name, str):
            known = len(self.thread_names) < 10_000  # a damaged trace may name millions
            if e.pid is not None and e.tid is not None and known:
                self.thread_names[(e.pid, e.tid)] = name.strip()

    def _memcpy(self, name: str, dur: float, args: Args | None) -> None:
        slot = self.memcpy.setdefault(_memcpy_kind(name), {"count": 0, "bytes": 0, "dur_us": 0.0})
        slot["count"] += 1
        slot["dur_us"] += dur
        nbytes = args.bytes if args is not None else None
        if isinstance(nbytes, (int, float)) and 0 < nbytes < MAX_COPY_BYTES:
            slot["bytes"] += nbytes

    def finish(self, header: dict[str, Any], path: str) -> TraceSummary:
        steps = self._steps()
        window = _StepWindow(steps)
        names = self.cpu_names.names
        kinds = np.array([_cpu_kind(n) for n in names], dtype=np.int8)
        self._cpu_per_step(steps, window, kinds)
        sync_start, sync_dur, _, _ = self.sync_times.arrays()
        sync_step = window.index(sync_start)
        window.add(steps, "syncs", sync_step)
        window.add(steps, "sync_us", sync_step, sync_dur)
        kernels, top_kernels = self._kernels(steps, window)
        cpu_start, cpu_dur, cpu_name, cpu_thread = self.cpu.arrays()
        depth, self_us = nesting(cpu_start, cpu_dur, cpu_thread)
        op_self_us = float(self_us.sum())
        n_names = len(names)
        op_totals = np.bincount(cpu_name, weights=cpu_dur, minlength=n_names)
        op_self = np.bincount(cpu_name, weights=self_us, minlength=n_names)
        op_counts = np.bincount(cpu_name, minlength=n_names)
        del self_us  # memory: the timeline, last, takes twice its events' columns
        is_comm = np.array([bool(CPU_COMM.match(n)) for n in names], dtype=bool)
        kernels.update(self._cpu_comm(cpu_start, cpu_dur, cpu_thread, is_comm[cpu_name]))
        if not kernels["comm"]:  # no NCCL kernels: the host's records time the collectives
            host = is_comm[cpu_name]
            _comm_per_step(steps, cpu_start[host], cpu_start[host] + cpu_dur[host])
        shown_as = [
            "data" if kind == _DATA else "comm" if comm else "op"
            for kind, comm in zip(kinds.tolist(), is_comm.tolist(), strict=True)
        ]
        cpu = Source(cpu_start, cpu_dur, cpu_name, cpu_thread, depth, names, shown_as)
        # A step marker without a length (none, or an infinite one) times nothing.
        steps_from = "ProfilerStep" if any(s[1] > 0 for s in self.profiler_steps) else None
        return TraceSummary(
            path=path,
            device=_device(header, self.runtime > 0, self.rocm),
            distributed=_mapping(header.get("distributedInfo")),
            steps=steps,
            steps_from=steps_from or "whole trace",
            memcpy=self.memcpy,
            syncs=self.syncs,
            scalar_reads=len(self.scalar_stacks),
            scalar_read_sites=self._scalar_sites(),
            kernels=kernels,
            top_ops=_top_ops(names, op_counts, op_totals, op_self),
            top_kernels=top_kernels,
            events=self.events,
            op_self_us=op_self_us,
            timeline=self._timeline(steps, bool(steps_from), cpu),
        )

    def _cpu_per_step(self, steps: list[TraceStep], window: _StepWindow, kinds: np.ndarray) -> None:
        """CPU ops, data loading, optimizer, scalar reads and backward time of each step."""
        cpu_start, cpu_dur, cpu_name, _ = self.cpu.arrays()
        cpu_kind = kinds[cpu_name]
        cpu_step = window.index(cpu_start)
        window.add(steps, "cpu_ops", cpu_step)
        for kind, attr in ((_DATA, "dataloader_us"), (_OPTIM, "optimizer_us")):
            window.add(steps, attr, cpu_step, np.where(cpu_kind == kind, cpu_dur, 0.0))
        window.add(steps, "scalar_reads", cpu_step, (cpu_kind == _SCALAR).astype(float))
        # Backward ops grouped by step in one sort, not one pass over all ops per step.
        backward = np.flatnonzero((cpu_kind == _BACKWARD) & (cpu_step >= 0))
        backward = backward[np.argsort(cpu_step[backward], kind="stable")]
        for ops in np.split(backward, np.flatnonzero(np.diff(cpu_step[backward])) + 1):
            if len(ops):
                ends = cpu_start[ops] + cpu_dur[ops]
                steps[cpu_step[ops[0]]].backward_us = Intervals(cpu_start[ops], ends).total

    def _timeline(self, steps: list[TraceStep], marked: bool, cpu: Source) -> Timeline | None:
        """The window of the steps (of the whole trace when no step is marked), bounded."""
        if not steps:
            return None
        sources = [cpu]
        for column, names in ((self.kernel, self.kernel_names), (self.copies, self.copy_names)):
            start, dur, name, lane = column.arrays()
            flat = np.zeros(len(start), np.int64)  # a stream runs one thing at a time
            kinds = [gpu_kind(n, NCCL) for n in names.names]
            sources.append(Source(start, dur, name, lane, flat, names.names, kinds))
        end = max(s.start_us + s.dur_us for s in steps)
        markers = [(s.name, s.start_us, s.dur_us) for s in steps] if marked else []
        step_threads = Counter(str(tid) for _, _, _, tid in self.profiler_steps)
        main = step_threads.most_common(1)[0][0] if step_threads else None
        lanes = lane_labels(self.threads, self.thread_names, main)
        return build_timeline((steps[0].start_us, end), markers, sources, lanes)

    def _steps(self) -> list[TraceStep]:
        # A step marker without a length (none, or an infinite one) times nothing.
        timed = [s for s in self.profiler_steps if s[1] > 0]
        if timed:
            ordered = sorted(timed, key=lambda s: s[0])
            return [TraceStep(name, start, dur) for start, dur, name, _ in ordered]
        starts = [self.runtime_span[0]]
        ends = [self.runtime_span[1]]
        for column in (self.cpu, self.kernel, self.copies):
            if column.start:
                start, dur, _, _ = column.arrays()
                starts.append(float(start.min()))
                ends.append(float((start + dur).max()))
        if starts == [float("inf")]:
            return []
        return [TraceStep("whole trace", min(starts), max(ends) - min(starts))]

    def _kernels(self, steps: list[TraceStep], window: _StepWindow) -> tuple[dict, list]:
        start, dur, name, _ = self.kernel.arrays()
        end = start + dur
        kinds = np.array([_kernel_kind(n) for n in self.kernel_names.names], dtype=bool).reshape(
            -1, 3
        )
        comm, tensor_core, gemm = (kinds[name, k] for k in range(3))
        step = window.index(start)
        window.add(steps, "kernels", step)
        window.add(steps, "tiny_kernels", step, (dur < TINY_KERNEL_US).astype(float))
        copy_start, copy_dur, _, _ = self.copies.arrays()
        busy = Intervals(
            np.concatenate((start, copy_start)), np.concatenate((end, copy_start + copy_dur))
        )
        covered = busy.covered(
            np.array([s.start_us for s in steps]), np.array([s.start_us + s.dur_us for s in steps])
        )
        for s, busy_us in zip(steps, covered, strict=True):
            s.gpu_busy_us = float(busy_us)
        if comm.any():
            _comm_per_step(steps, start[comm], end[comm])
        compute = Intervals(start[~comm], end[~comm])
        kernels = {
            "count": len(dur),
            "total_us": float(dur.sum()),
            "tiny": int((dur < TINY_KERNEL_US).sum()),
            "median_us": float(np.median(dur)) if len(dur) else 0.0,
            "tensor_core": int((tensor_core & ~comm).sum()),
            "gemm_or_conv": int((gemm & ~comm).sum()),
            "comm": int(comm.sum()),
            "comm_us": float(dur[comm].sum()),
            "comm_overlapped_us": float(compute.covered(start[comm], end[comm]).sum()),
        }
        totals = np.bincount(name, weights=dur, minlength=len(self.kernel_names))
        counts = np.bincount(name, minlength=len(self.kernel_names))
        return kernels, _top(self.kernel_names.names, counts, totals)

    def _cpu_comm(self, start, dur, thread, is_comm) -> dict[str, float]:
        """Collectives recorded on the host (gloo on CPU, or NCCL's host records), and how
        much of their time the training thread spent on other ops rather than waiting."""
        if not is_comm.any():
            return {"comm_cpu": 0, "comm_cpu_us": 0.0, "comm_cpu_overlapped_us": 0.0}
        step_threads = Counter(tid for _, _, _, tid in self.profiler_steps)
        main = step_threads.most_common(1)[0][0] if step_threads else None
        busy_mask = ~is_comm & (thread == self.threads.get(main, -1))
        end = start + dur
        busy = Intervals(start[busy_mask], end[busy_mask])
        return {
            "comm_cpu": int(is_comm.sum()),
            "comm_cpu_us": float(dur[is_comm].sum()),
            "comm_cpu_overlapped_us": float(busy.covered(start[is_comm], end[is_comm]).sum()),
        }

    def _scalar_sites(self) -> list[tuple[str, int]]:
        """Where the host read device scalars: from 'Call stack' args or enclosing frames."""
        sites: Counter[str] = Counter()
        frames = None  # sorted only when some read has no call stack of its own
        for ts, thread, stack in self.scalar_stacks:
            if isinstance(stack, str):
                frame = _user_frame(stack.split(";"))
            else:
                frames = frames or _ThreadFrames(self.python, self.python_names.names)
                frame = frames.enclosing_user_frame(thread, ts)
            if frame:
                sites[frame] += 1
        return sites.most_common(10)


class _StepWindow:
    """Which step each timestamp falls in (-1: none), and per-step sums."""

    def __init__(self, steps: list[TraceStep]) -> None:
        self.starts = np.array([s.start_us for s in steps], dtype=np.float64)
        self.ends = self.starts + np.array([s.dur_us for s in steps], dtype=np.float64)

    def index(self, ts: np.ndarray) -> np.ndarray:
        i = np.searchsorted(self.starts, ts, side="right") - 1
        inside = (i >= 0) & (ts < self.ends[np.maximum(i, 0)]) if len(self.starts) else i < -1
        return np.where(inside, i, -1)

    def add(self, steps, attr: str, step: np.ndarray, weights: np.ndarray | None = None) -> None:
        inside = step >= 0
        w = None if weights is None else weights[inside]
        sums = np.bincount(step[inside], weights=w, minlength=len(steps))
        for s, value in zip(steps, sums, strict=True):
            setattr(s, attr, type(getattr(s, attr))(value))


class _ThreadFrames:
    """Python frames per thread, ordered by start, to find those enclosing a moment."""

    def __init__(self, column: Column, names: list[str]) -> None:
        start, dur, name, thread = column.arrays()
        order = np.lexsort((start, thread))
        self.start, self.name, self.thread = start[order], name[order], thread[order]
        self.end = self.start + dur[order]
        self.names = names

    def enclosing_user_frame(self, thread: int, ts: float) -> str | None:
        lo, hi = np.searchsorted(self.thread, [thread, thread + 1])
        if lo == hi:
            return None
        i = lo + int(np.searchsorted(self.start[lo:hi], ts, side="right")) - 1
        first = max(lo, i - ENCLOSING_FRAMES_WINDOW)
        if i < first:
            return None
        # Earlier-starting frames still open at ts enclose the op; innermost first.
        window = slice(first, i + 1)
        open_at = self.end[window] >= ts
        names = self.name[window][open_at][::-1]
        return _user_frame([self.names[n] for n in names])


def _cpu_kind(name: str) -> int:
    if name.startswith(DATALOADER):
        return _DATA
    if name in SCALAR_READS:
        return _SCALAR
    if name.startswith(OPTIMIZER):
        return _OPTIM
    if name.startswith(BACKWARD):
        return _BACKWARD
    return _OTHER


def _kernel_kind(name: str) -> tuple[bool, bool, bool]:
    """(communication, tensor core, gemm/conv) for a kernel name."""
    return (
        bool(NCCL.search(name)),
        bool(TENSOR_CORE.search(name)),
        bool(GEMM_OR_CONV.search(name)),
    )


def _comm_per_step(steps: list[TraceStep], start: np.ndarray, end: np.ndarray) -> None:
    covered = Intervals(start, end).covered(
        np.array([s.start_us for s in steps]), np.array([s.start_us + s.dur_us for s in steps])
    )
    for s, comm_us in zip(steps, covered, strict=True):
        s.comm_us = float(comm_us)


def _top_ops(
    names: list[str], counts: np.ndarray, totals: np.ndarray, selfs: np.ndarray
) -> list[tuple[str, int, float, float]]:
    ranked = np.argsort(-selfs, kind="stable")[:15]
    return [(names[i], int(counts[i]), float(totals[i]), float(selfs[i])) for i in ranked]


def _top(names: list[str], counts: np.ndarray, totals: np.ndarray) -> list[tuple[str, int, float]]:
    ranked = Counter(dict(zip(names, totals.tolist(), strict=True))).most_common(15)
    index = {n: i for i, n in enumerate(names)}
    return [(n, int(counts[index[n]]), total) for n, total in ranked]


def _memcpy_kind(name: str) -> str:
    """'Memcpy HtoD (Pageable -> Device)' -> 'HtoD pageable'."""
    direction = name[7:11] if name.startswith("Memcpy ") else "other"
    lowered = name.lower()
    if "pageable" in lowered:
        return f"{direction} pageable"
    if "pinned" in lowered:
        return f"{direction} pinned"
    return direction


def _user_frame(frames: list[str]) -> str | None:
    """First frame (innermost first) that is the user's: not torch, not a library, not builtin."""
    for frame in frames:
        if (
            frame.startswith("<")
            or "site-packages" in frame
            or "/torch/" in frame
            or "perfkit/capture/" in frame  # perfkit's own probe, seen in traces it recorded
        ):
            continue
        return frame.strip()
    return None


def _mapping(value: Any) -> dict[str, Any]:
    return dict(value) if isinstance(value, dict) else {}


def _device(header: dict[str, Any], has_runtime: bool, rocm: bool) -> dict[str, Any]:
    props = header.get("deviceProperties")
    first = props[0] if isinstance(props, list) and props and isinstance(props[0], dict) else {}
    vendor = "amd" if rocm else "nvidia" if (first or has_runtime) else None
    device: dict[str, Any] = {"name": first.get("name"), "vendor": vendor}
    if "computeMajor" in first:
        device["capability"] = f"{first['computeMajor']}.{first.get('computeMinor', 0)}"
    if "totalGlobalMem" in first:
        device["memory_bytes"] = first["totalGlobalMem"]
    return device
