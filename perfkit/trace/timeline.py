"""The profiled window as lanes of events, bounded so that a page can carry and draw it.

A 1 GB trace holds millions of events; a page keeps the ``MAX_EVENTS`` longest of those in
the window (from the first profiled step's start to the last one's end): CPU ops by thread,
GPU kernels, copies and memsets by stream. Shorter events are the ones left out, so an op is
never kept without the ops that enclose it, and the page says how many were left out.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np

# About 16 bytes of page each: 20,000 events are ~350 KB of HTML.
MAX_EVENTS = 20_000
# Kernel names can be C++ templates of thousands of characters.
MAX_NAME = 300
# What an event is, for its colour and legend.
KINDS = ("op", "data", "comm", "kernel", "memcpy", "memset")


@dataclass
class TimelineLane:
    label: str  # "thread 25738 (python)", "GPU 0 stream 7"
    device: str  # "cpu" or "gpu"
    start_us: list[float] = field(default_factory=list)  # from the window's start, ordered
    dur_us: list[float] = field(default_factory=list)
    name: list[int] = field(default_factory=list)  # index into Timeline.names
    depth: list[int] = field(default_factory=list)  # nesting of CPU ops; 0 on a stream


@dataclass
class Timeline:
    span_us: float
    steps: list[tuple[str, float, float]]  # (name, start_us, dur_us) from the window's start
    lanes: list[TimelineLane]
    names: list[tuple[str, str]]  # (kind, name), the most frequent first
    events: int  # CPU ops, kernels and copies in the window
    kept: int  # of those, the longest, on the lanes
    dropped_us: float = 0.0  # summed duration of the events left out
    longest_dropped_us: float = 0.0


@dataclass
class Source:
    """One column of events (CPU ops, kernels, copies) and how to show it."""

    start: np.ndarray
    dur: np.ndarray
    name: np.ndarray
    lane: np.ndarray  # the collector's thread/stream index
    depth: np.ndarray
    names: list[str]
    kinds: list[str]  # per name id, one of KINDS


def build_timeline(
    window: tuple[float, float],
    steps: list[tuple[str, float, float]],
    sources: list[Source],
    lanes: dict[int, tuple[str, str, tuple]],
) -> Timeline:
    """``lanes`` maps a lane index to (label, device, sort key)."""
    w0, w1 = window
    parts = []
    for k, src in enumerate(sources):
        inside = (src.start < w1) & (src.start + src.dur > w0)
        parts.append((np.full(int(inside.sum()), k), np.flatnonzero(inside)))
    which = np.concatenate([p[0] for p in parts]) if parts else np.zeros(0, int)
    index = np.concatenate([p[1] for p in parts]) if parts else np.zeros(0, int)
    start = _gather(sources, which, index, "start")
    dur = _gather(sources, which, index, "dur")
    # The longest first; of equal ones, the earliest.
    kept = np.lexsort((start, -dur))[:MAX_EVENTS]
    dropped = np.ones(len(dur), dtype=bool)
    dropped[kept] = False
    timeline = Timeline(
        span_us=round(w1 - w0, 1),
        steps=[(name, round(s - w0, 1), round(d, 1)) for name, s, d in steps],
        lanes=[],
        names=[],
        events=len(dur),
        kept=len(kept),
        dropped_us=round(float(dur[dropped].sum()), 1),
        longest_dropped_us=round(float(dur[dropped].max(initial=0.0)), 1),
    )
    which, index, start, dur = which[kept], index[kept], start[kept], dur[kept]
    lane = _gather(sources, which, index, "lane")
    depth = _gather(sources, which, index, "depth")
    name_id = _gather(sources, which, index, "name")
    # One table of names over the sources, the most frequent first (shorter ids).
    pairs = list(zip(which.tolist(), name_id.tolist(), strict=True))
    counts: dict[tuple[int, int], int] = {}
    for pair in pairs:
        counts[pair] = counts.get(pair, 0) + 1
    table = sorted(counts, key=lambda p: (-counts[p], p))
    ids = {p: i for i, p in enumerate(table)}
    timeline.names = [(sources[k].kinds[n], _short(sources[k].names[n])) for k, n in table]
    names = np.array([ids[p] for p in pairs], dtype=np.int64)
    for lane_index in sorted(set(lane.tolist()), key=lambda i: lanes[i][2]):
        label, device, _ = lanes[lane_index]
        mine = np.flatnonzero(lane == lane_index)
        mine = mine[np.argsort(start[mine], kind="stable")]
        timeline.lanes.append(
            TimelineLane(
                label=label,
                device=device,
                start_us=np.round(start[mine] - w0, 1).tolist(),
                dur_us=np.round(dur[mine], 1).tolist(),
                name=names[mine].tolist(),
                depth=depth[mine].tolist(),
            )
        )
    return timeline


def lane_labels(
    threads: dict[Any, int], names: dict[Any, str], main: str | None
) -> dict[int, tuple[str, str, tuple]]:
    """Each lane's label, device and place: the thread that runs the steps (``main``, a
    tid as text) first, then the other threads, then the GPU streams. ``threads`` maps a
    tid, or ("gpu", pid, tid) for a stream, to its lane; ``names`` (pid, tid) to the
    trace's own name for it."""
    by_tid = {str(tid): name for (_, tid), name in names.items()}
    lanes = {}
    for key, index in threads.items():
        if isinstance(key, tuple):
            _, pid, tid = key
            stream = names.get((pid, tid)) or (
                str(tid) if str(tid).startswith("stream") else f"stream {tid}"
            )
            number = _number(str(tid).removeprefix("stream").strip())
            lanes[index] = (f"GPU {pid} {stream}", "gpu", (1, _number(pid), number, str(key)))
        else:
            label = by_tid.get(str(key)) or f"thread {key}"
            lanes[index] = (label, "cpu", (0, float(str(key) != main), _number(key), str(key)))
    return lanes


def gpu_kind(name: str, comm: re.Pattern[str]) -> str:
    """What a GPU event is, by its name: a memset, a copy, a collective or a kernel."""
    lowered = name.lower()
    if lowered.startswith("memset"):
        return "memset"
    if lowered.startswith("memcpy"):
        return "memcpy"
    return "comm" if comm.search(name) else "kernel"


def _number(x: Any) -> float:
    try:
        return float(x)
    except (TypeError, ValueError):
        return math.inf


def _gather(sources: list[Source], which: np.ndarray, index: np.ndarray, attr: str) -> np.ndarray:
    out = np.zeros(len(index), dtype=np.float64 if attr in ("start", "dur") else np.int64)
    for k, src in enumerate(sources):
        mask = which == k
        out[mask] = getattr(src, attr)[index[mask]]
    return out


def _short(name: str) -> str:
    return name if len(name) <= MAX_NAME else name[: MAX_NAME - 1] + "…"
