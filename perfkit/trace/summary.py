"""Turn a Kineto trace into a compact TraceSummary: per-step figures, not per-event objects.

One pass classifies events by category (old Kineto spells them ``Operator``/``Runtime``/
``Kernel``/``Memcpy``, new ones ``cpu_op``/``cuda_runtime``/``kernel``/``gpu_memcpy``; ROCm
traces use ``hip*`` runtime names); GPU activity is reduced to merged busy intervals. The
summary is what rules read: they never see raw events.
"""

from __future__ import annotations

import bisect
import re
import statistics
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

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

_CPU = {"cpu_op", "operator", "user_annotation"}
_RUNTIME = {"cuda_runtime", "runtime", "cuda_driver"}
_GPU = {"kernel", "gpu_memcpy", "memcpy", "gpu_memset", "memset"}
_MEMCPY = {"gpu_memcpy", "memcpy"}


@dataclass
class TraceStep:
    name: str
    start_us: float
    dur_us: float
    dataloader_us: float = 0.0
    backward_us: float = 0.0  # union of autograd engine work (nested ops counted once)
    optimizer_us: float = 0.0  # Optimizer.step / zero_grad
    sync_us: float = 0.0
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
    top_ops: list[tuple[str, int, float]] = field(default_factory=list)
    top_kernels: list[tuple[str, int, float]] = field(default_factory=list)
    events: int = 0

    @property
    def has_gpu_activity(self) -> bool:
        return self.kernels.get("count", 0) > 0 or bool(self.memcpy)

    @property
    def window_us(self) -> float:
        return sum(s.dur_us for s in self.steps)


def _kernel_kind(name: str, cache: dict[str, tuple[bool, bool, bool]]) -> tuple[bool, bool, bool]:
    """(communication, tensor core, gemm/conv) for a kernel name; regexes run once per name."""
    kind = cache.get(name)
    if kind is None:
        kind = cache[name] = (
            bool(NCCL.search(name)),
            bool(TENSOR_CORE.search(name)),
            bool(GEMM_OR_CONV.search(name)),
        )
    return kind


def _memcpy_kind(name: str) -> str:
    """'Memcpy HtoD (Pageable -> Device)' -> 'HtoD pageable'."""
    direction = name[7:11] if name.startswith("Memcpy ") else "other"
    lowered = name.lower()
    if "pageable" in lowered:
        return f"{direction} pageable"
    if "pinned" in lowered:
        return f"{direction} pinned"
    return direction


def _merge(intervals: list[tuple[float, float]]) -> list[tuple[float, float]]:
    intervals.sort()
    merged: list[tuple[float, float]] = []
    for start, end in intervals:
        if merged and start <= merged[-1][1]:
            if end > merged[-1][1]:
                merged[-1] = (merged[-1][0], end)
        else:
            merged.append((start, end))
    return merged


def _overlap(merged: list[tuple[float, float]], start: float, end: float) -> float:
    """Length of [start, end) covered by sorted, disjoint intervals."""
    total = 0.0
    i = bisect.bisect_right(merged, (start, float("inf"))) - 1
    i = max(i, 0)
    while i < len(merged) and merged[i][0] < end:
        s, e = merged[i]
        total += max(0.0, min(e, end) - max(s, start))
        i += 1
    return total


def _user_frame(frames: list[str]) -> str | None:
    """First frame (innermost first) that is the user's: not torch, not a library, not builtin."""
    for frame in frames:
        if (
            frame.startswith("<")
            or "site-packages" in frame
            or "/torch/" in frame
            or (
                "perfkit/capture/" in frame  # perfkit's own probe, seen in traces it recorded
            )
        ):
            continue
        return frame.strip()
    return None


def _step_index(starts: list[float], steps: list[TraceStep], ts: float) -> int:
    i = bisect.bisect_right(starts, ts) - 1
    if i >= 0 and ts < steps[i].start_us + steps[i].dur_us:
        return i
    return -1


def summarize(data: dict[str, Any], path: str = "<trace>") -> TraceSummary:
    events = data["traceEvents"]
    profiler_steps = []
    cpu_events = []
    runtime_events = []
    gpu_events = []
    python_events = []
    for e in events:
        if not isinstance(e, dict) or e.get("ph") != "X":
            continue
        cat = str(e.get("cat") or "").lower()
        name = e.get("name")
        if not isinstance(name, str) or not isinstance(e.get("ts"), (int, float)):
            continue
        if cat in _CPU:
            if name.startswith("ProfilerStep#"):
                profiler_steps.append(e)
            else:
                cpu_events.append(e)
        elif cat in _RUNTIME:
            runtime_events.append(e)
        elif cat in _GPU:
            gpu_events.append(e)
        elif cat == "python_function":
            python_events.append(e)

    steps = _steps(profiler_steps, cpu_events + runtime_events + gpu_events)
    starts = [s.start_us for s in steps]
    op_totals: Counter[str] = Counter()
    op_counts: Counter[str] = Counter()
    scalar_events = []
    backward: dict[int, list[tuple[float, float]]] = {}
    for e in cpu_events:
        name = e["name"]
        dur = float(e.get("dur") or 0)
        op_totals[name] += dur
        op_counts[name] += 1
        i = _step_index(starts, steps, e["ts"])
        if i >= 0:
            steps[i].cpu_ops += 1
            if name.startswith(DATALOADER):
                steps[i].dataloader_us += dur
            elif name in SCALAR_READS:
                steps[i].scalar_reads += 1
            elif name.startswith(OPTIMIZER):
                steps[i].optimizer_us += dur
            elif name.startswith(BACKWARD):
                backward.setdefault(i, []).append((float(e["ts"]), float(e["ts"]) + dur))
        if name in SCALAR_READS:
            scalar_events.append(e)

    for i, intervals in backward.items():
        steps[i].backward_us = sum(end - start for start, end in _merge(intervals))
    syncs: dict[str, dict[str, float]] = {}
    for e in runtime_events:
        name = e["name"]
        if SYNC_APIS.match(name):
            dur = float(e.get("dur") or 0)
            slot = syncs.setdefault(name, {"count": 0, "dur_us": 0.0})
            slot["count"] += 1
            slot["dur_us"] += dur
            i = _step_index(starts, steps, e["ts"])
            if i >= 0:
                steps[i].syncs += 1
                steps[i].sync_us += dur

    memcpy, kernels, top_kernels = _gpu(gpu_events, steps, starts)
    kernels.update(_cpu_comm(cpu_events, profiler_steps))
    return TraceSummary(
        path=path,
        device=_device(data, runtime_events),
        distributed=dict(data.get("distributedInfo") or {}),
        steps=steps,
        steps_from="ProfilerStep" if profiler_steps else "whole trace",
        memcpy=memcpy,
        syncs=syncs,
        scalar_reads=len(scalar_events),
        scalar_read_sites=_scalar_sites(scalar_events, python_events),
        kernels=kernels,
        top_ops=[(n, op_counts[n], op_totals[n]) for n, _ in op_totals.most_common(15)],
        top_kernels=top_kernels,
        events=len(events),
    )


def _steps(profiler_steps: list[dict], others: list[dict]) -> list[TraceStep]:
    if profiler_steps:
        ordered = sorted(profiler_steps, key=lambda e: e["ts"])
        return [TraceStep(e["name"], float(e["ts"]), float(e.get("dur") or 0)) for e in ordered]
    if not others:
        return []
    start = min(e["ts"] for e in others)
    end = max(e["ts"] + float(e.get("dur") or 0) for e in others)
    return [TraceStep("whole trace", float(start), float(end - start))]


def _gpu(
    gpu_events: list[dict], steps: list[TraceStep], starts: list[float]
) -> tuple[dict, dict, list]:
    memcpy: dict[str, dict[str, float]] = {}
    busy: list[tuple[float, float]] = []
    compute: list[tuple[float, float]] = []
    comm: list[tuple[float, float]] = []
    durations: list[float] = []
    totals: Counter[str] = Counter()
    counts: Counter[str] = Counter()
    tensor_core = gemm = 0
    kinds: dict[str, tuple[bool, bool, bool]] = {}
    for e in gpu_events:
        ts = float(e["ts"])
        dur = float(e.get("dur") or 0)
        busy.append((ts, ts + dur))
        cat = str(e.get("cat")).lower()
        name = e["name"]
        if cat in _MEMCPY:
            slot = memcpy.setdefault(_memcpy_kind(name), {"count": 0, "bytes": 0, "dur_us": 0.0})
            slot["count"] += 1
            slot["dur_us"] += dur
            nbytes = (e.get("args") or {}).get("bytes")
            slot["bytes"] += nbytes if isinstance(nbytes, (int, float)) else 0
            continue
        if cat not in ("kernel",):
            continue
        durations.append(dur)
        totals[name] += dur
        counts[name] += 1
        is_comm, is_tensor_core, is_gemm = _kernel_kind(name, kinds)
        if is_comm:
            comm.append((ts, ts + dur))
        else:
            compute.append((ts, ts + dur))
            tensor_core += is_tensor_core
            gemm += is_gemm
        i = _step_index(starts, steps, ts)
        if i >= 0:
            steps[i].kernels += 1
            steps[i].tiny_kernels += dur < TINY_KERNEL_US
    merged = _merge(busy)
    for step in steps:
        step.gpu_busy_us = _overlap(merged, step.start_us, step.start_us + step.dur_us)
    merged_compute = _merge(compute)
    kernels = {
        "count": len(durations),
        "total_us": sum(durations),
        "tiny": sum(d < TINY_KERNEL_US for d in durations),
        "median_us": statistics.median(durations) if durations else 0.0,
        "tensor_core": tensor_core,
        "gemm_or_conv": gemm,
        "comm": len(comm),
        "comm_us": sum(e - s for s, e in comm),
        "comm_overlapped_us": sum(_overlap(merged_compute, s, e) for s, e in comm),
    }
    top = [(n, counts[n], totals[n]) for n, _ in totals.most_common(15)]
    return memcpy, kernels, top


def _cpu_comm(cpu_events: list[dict], profiler_steps: list[dict]) -> dict[str, float]:
    """Collectives recorded on the host (gloo on CPU, or NCCL's host records), and how much
    of their time the training thread spent on other ops rather than waiting for them."""
    comm = [
        (float(e["ts"]), float(e["ts"]) + float(e.get("dur") or 0))
        for e in cpu_events
        if CPU_COMM.match(e["name"])
    ]
    if not comm:
        return {"comm_cpu": 0, "comm_cpu_us": 0.0, "comm_cpu_overlapped_us": 0.0}
    threads = Counter(e.get("tid") for e in profiler_steps)
    main = threads.most_common(1)[0][0] if threads else None
    busy = _merge(
        [
            (float(e["ts"]), float(e["ts"]) + float(e.get("dur") or 0))
            for e in cpu_events
            if e.get("tid") == main and not CPU_COMM.match(e["name"])
        ]
    )
    return {
        "comm_cpu": len(comm),
        "comm_cpu_us": sum(end - start for start, end in comm),
        "comm_cpu_overlapped_us": sum(_overlap(busy, start, end) for start, end in comm),
    }


def _device(data: dict[str, Any], runtime_events: list[dict]) -> dict[str, Any]:
    props = data.get("deviceProperties") or []
    first = props[0] if props and isinstance(props[0], dict) else {}
    rocm = any(e["name"].startswith("hip") for e in runtime_events[:2000])
    device: dict[str, Any] = {"name": first.get("name"), "vendor": "amd" if rocm else None}
    if "computeMajor" in first:
        device["capability"] = f"{first['computeMajor']}.{first.get('computeMinor', 0)}"
    if "totalGlobalMem" in first:
        device["memory_bytes"] = first["totalGlobalMem"]
    if device["vendor"] is None and (first or runtime_events):
        device["vendor"] = "nvidia" if runtime_events or first else None
    return device


def _scalar_sites(scalar_events: list[dict], python_events: list[dict]) -> list[tuple[str, int]]:
    """Where the host read device scalars: from 'Call stack' args or enclosing Python frames."""
    sites: Counter[str] = Counter()
    by_thread: dict[Any, list[dict]] = {}
    for e in python_events:
        by_thread.setdefault(e.get("tid"), []).append(e)
    for events in by_thread.values():
        events.sort(key=lambda e: e["ts"])
    starts = {tid: [e["ts"] for e in evs] for tid, evs in by_thread.items()}
    for e in scalar_events:
        stack = (e.get("args") or {}).get("Call stack")
        frame = None
        if isinstance(stack, str):
            frame = _user_frame(stack.split(";"))
        elif e.get("tid") in by_thread:
            frame = _enclosing_user_frame(by_thread[e["tid"]], starts[e["tid"]], e["ts"])
        if frame:
            sites[frame] += 1
    return sites.most_common(10)


def _enclosing_user_frame(events: list[dict], starts: list[float], ts: float) -> str | None:
    i = bisect.bisect_right(starts, ts) - 1
    frames = []
    # Walk back over earlier-starting frames; those still open at ts enclose the op.
    for e in events[max(0, i - 400) : i + 1][::-1]:
        if e["ts"] + float(e.get("dur") or 0) >= ts:
            frames.append(e["name"])
    return _user_frame(frames)
