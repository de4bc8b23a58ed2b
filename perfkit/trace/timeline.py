"""The profiled window as lanes of events, bounded so that a page can carry and draw it.

A 1 GB trace holds millions of events; the window (from the first profiled step's start to
the last one's end) keeps at most ``MAX_EVENTS`` things to draw: CPU ops by thread, GPU
kernels, copies and memsets by stream. When there are more, the longest events are kept as
they are (so an op is never kept without the ops that enclose it), and the shorter ones are
merged: those that follow each other on the same lane and level, less than a
``MERGE_GAP``-th of the window apart (under a pixel when the whole window is shown), become
one block that says how many events it holds and how long they ran. A busy stream of tiny
kernels stays busy on the page. As many events are kept as leave room for the blocks; if
even merging every short event leaves too many blocks, the least busy are left out, and
the page says so.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np

# About 13 bytes of page each: 20,000 are ~270 KB of HTML.
MAX_EVENTS = 20_000
# Short events merge across gaps of up to this fraction of the window.
MERGE_GAP = 1 / 2000
# Kernel names can be C++ templates of thousands of characters.
MAX_NAME = 300
# What an event is, for its colour and legend; a block of merged events is "merged", its
# name the kind of its first event.
KINDS = ("op", "data", "comm", "kernel", "memcpy", "memset", "merged")


@dataclass
class TimelineLane:
    label: str  # "thread 25738 (python)", "GPU 0 stream 7"
    device: str  # "cpu" or "gpu"
    start_us: list[float] = field(default_factory=list)  # from the window's start, ordered
    dur_us: list[float] = field(default_factory=list)
    name: list[int] = field(default_factory=list)  # index into Timeline.names
    depth: list[int] = field(default_factory=list)  # nesting of CPU ops; 0 on a stream
    # (position in this lane, events merged, their summed duration in us) of each block
    merged: list[tuple[int, int, float]] = field(default_factory=list)


@dataclass
class Timeline:
    span_us: float
    steps: list[tuple[str, float, float]]  # (name, start_us, dur_us) from the window's start
    lanes: list[TimelineLane]
    names: list[tuple[str, str]]  # (kind, name), the most frequent first
    events: int  # CPU ops, kernels and copies in the window
    kept: int  # of those, drawn as they are: the longest, and short ones with none close by
    merged: int = 0  # drawn in blocks
    blocks: int = 0
    dropped: int = 0  # left out: blocks beyond the budget
    dropped_us: float = 0.0  # their summed duration
    short_us: float = 0.0  # no event merged or left out is longer


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
    ev = _in_window(sources, w0, w1)
    n = len(ev["dur"])
    longest, kept, blocks = _select(ev, (w1 - w0) * MERGE_GAP)
    shown = blocks["shown"]
    timeline = Timeline(
        span_us=round(w1 - w0, 1),
        steps=[(name, round(s - w0, 1), round(d, 1)) for name, s, d in steps],
        lanes=[],
        names=[],
        events=n,
        kept=int(kept.sum()),
        merged=int(blocks["count"][shown].sum()),
        blocks=int(shown.sum()),
        dropped=int(blocks["count"][~shown].sum()),
        dropped_us=round(float(blocks["busy"][~shown].sum()), 1),
        short_us=round(float(ev["dur"][~longest].max(initial=0.0)), 1),
    )
    # What each thing drawn is called: (source, name id) of an event, the kind of a block.
    keys: list[tuple[Any, ...]] = [
        ("event", int(k), int(i)) for k, i in zip(ev["which"][kept], ev["name"][kept], strict=True)
    ]
    keys += [("merged", KINDS[kind]) for kind in blocks["kind"][shown]]
    frequency: dict[tuple, int] = {}
    for key in keys:
        frequency[key] = frequency.get(key, 0) + 1
    table = sorted(frequency, key=lambda key: (-frequency[key], str(key)))
    timeline.names = [
        ("merged", key[1]) if key[0] == "merged" else _named(sources[key[1]], key[2])
        for key in table
    ]
    ids = {key: i for i, key in enumerate(table)}
    drawn = {
        "start": np.concatenate((ev["start"][kept], blocks["start"][shown])),
        "dur": np.concatenate((ev["dur"][kept], blocks["dur"][shown])),
        "lane": np.concatenate((ev["lane"][kept], blocks["lane"][shown])),
        "depth": np.concatenate((ev["depth"][kept], blocks["depth"][shown])),
        "name": np.array([ids[key] for key in keys], dtype=np.int64),
        "count": np.concatenate((np.ones(int(kept.sum()), np.int64), blocks["count"][shown])),
        "busy": np.concatenate((ev["dur"][kept], blocks["busy"][shown])),
    }
    for lane_index in sorted(set(drawn["lane"].tolist()), key=lambda i: lanes[i][2]):
        label, device, _ = lanes[lane_index]
        mine = np.flatnonzero(drawn["lane"] == lane_index)
        mine = mine[np.argsort(drawn["start"][mine], kind="stable")]
        count = drawn["count"][mine]
        timeline.lanes.append(
            TimelineLane(
                label=label,
                device=device,
                start_us=np.round(drawn["start"][mine] - w0, 1).tolist(),
                dur_us=np.round(drawn["dur"][mine], 1).tolist(),
                name=drawn["name"][mine].tolist(),
                depth=drawn["depth"][mine].tolist(),
                merged=[
                    (int(i), int(count[i]), round(float(drawn["busy"][mine][i]), 1))
                    for i in np.flatnonzero(count > 1)
                ],
            )
        )
    return timeline


def _in_window(sources: list[Source], w0: float, w1: float) -> dict[str, np.ndarray]:
    """Every event that overlaps the window, from every source, as columns: ids as int32,
    so that the ~2M events of a 1 GB trace's window take 56 MB, not 104."""
    parts = []
    for k, src in enumerate(sources):
        i = np.flatnonzero((src.start < w1) & (src.start + src.dur > w0))
        codes = np.array([KINDS.index(kind) for kind in src.kinds], np.int8)
        parts.append(
            {
                "which": np.full(len(i), k, np.int8),
                "start": src.start[i],
                "dur": src.dur[i],
                "name": src.name[i].astype(np.int32),
                "lane": src.lane[i].astype(np.int32),
                "depth": src.depth[i].astype(np.int32),
                "kind": codes[src.name[i]],
            }
        )
    return {key: np.concatenate([part[key] for part in parts]) for key in parts[0]}


def _select(
    ev: dict[str, np.ndarray], gap: float
) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    """The longest events (of equal ones, the earliest), as many as leave room for the
    others merged into blocks; the events drawn as they are (those, and short ones with
    none close by); and the blocks."""
    n = len(ev["dur"])
    most = min(n, MAX_EVENTS)
    rank = np.full(n, most, dtype=np.int32)  # among the longest; past the first few, all alike
    rank[_longest(ev["start"], ev["dur"], most)] = np.arange(most)
    # Events in lane, level and time order; which of them could join the one before.
    order = np.lexsort((ev["start"], ev["depth"], ev["lane"]))
    lane, depth, start, dur = (ev[key][order] for key in ("lane", "depth", "start", "dur"))
    gaps = start[1:] - (start[:-1] + dur[:-1])
    close = (lane[1:] == lane[:-1]) & (depth[1:] == depth[:-1]) & (gaps <= gap)
    del lane, depth, gaps  # memory: a 1 GB trace's window holds ~2M events
    # Keeping the k longest draws them, and the n - k others less one per close pair of
    # two others: a close pair whose longer event ranks below k is not two others.
    ranked = rank[order]
    pair_rank = np.minimum(ranked[1:], ranked[:-1])[close]
    pairs, split_pairs = len(pair_rank), np.sort(pair_rank[pair_rank < most])
    del pair_rank

    def drawn(k: int) -> int:  # events kept and blocks when the k longest are kept
        return n - pairs + int(np.searchsorted(split_pairs, k))

    # Keeping one more event adds 0, 1 or 2 to what is drawn: search the most that fit.
    lo, hi = 0, most
    while lo < hi:
        mid = (lo + hi + 1) // 2
        lo, hi = (mid, hi) if drawn(mid) <= MAX_EVENTS else (lo, mid - 1)
    longest = rank < lo
    kept = longest.copy()
    short = ranked >= lo
    del ranked
    starts_block = short & ~np.r_[False, close & short[1:] & short[:-1]]
    first = np.flatnonzero(starts_block)
    bounds = np.flatnonzero(starts_block[short])  # of each block's first among the short
    short_start, short_dur = start[short], dur[short]
    blocks = {
        "start": start[first],
        "dur": (
            np.maximum.reduceat(short_start + short_dur, bounds) - start[first]
            if len(first)
            else dur[:0]
        ),
        "lane": ev["lane"][order[first]],
        "depth": ev["depth"][order[first]],
        "count": np.diff(np.r_[bounds, len(short_dur)]).astype(np.int64),
        "busy": np.add.reduceat(short_dur, bounds) if len(first) else dur[:0],
        "kind": ev["kind"][order[first]],
    }
    shown = np.zeros(len(first), dtype=bool)
    shown[np.argsort(-blocks["busy"], kind="stable")[: MAX_EVENTS - lo]] = True
    # A short event with none close to it is drawn as it is.
    alone = shown & (blocks["count"] == 1)
    kept[order[first[alone]]] = True
    blocks = {key: column[~alone] for key, column in blocks.items()}
    blocks["shown"] = shown[~alone]
    return longest, kept, blocks


def _longest(start: np.ndarray, dur: np.ndarray, k: int) -> np.ndarray:
    """The indexes of the ``k`` longest events, longest first (of equal ones, the earliest,
    then the first): ``np.lexsort((start, -dur))[:k]``, without sorting them all."""
    if k == 0:
        return np.zeros(0, dtype=np.int64)
    shorter = -dur
    candidates = np.flatnonzero(shorter <= np.partition(shorter, k - 1)[k - 1])
    return candidates[np.lexsort((start[candidates], shorter[candidates]))][:k]


def _named(src: Source, name: int) -> tuple[str, str]:
    text = src.names[name]
    return src.kinds[name], text if len(text) <= MAX_NAME else text[: MAX_NAME - 1] + "…"


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
