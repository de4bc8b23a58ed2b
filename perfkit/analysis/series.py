"""The per-step series of a run for the report's plots and JSON, in a bounded size.

A run kept whole gives one entry per step. A long run (steps folded into blocks) gives at
most ``MAX_BINS`` entries, each the mean over a range of consecutive steps, and
``first_step`` says where each range starts: the plots draw the whole run, not one mark
per step, and a million-step run's report stays small.
"""

from __future__ import annotations

import math
from typing import Any

from perfkit.evidence import Evidence

MAX_BINS = 400


def step_series(ev: Evidence) -> dict[str, Any]:
    run = ev.the_run
    steps = run.steps
    if not run.step_blocks:
        return {
            "wall_ms": [s.wall_ms for s in steps],
            "data_wait_ms": [s.data_wait_ms for s in steps],
            "outside_ms": [s.outside_ms for s in steps],
            "syncs": [ev.step_syncs(s) for s in steps],
            "memory_bytes": [s.memory.used_bytes if s.memory is not None else None for s in steps],
            "phase": [s.phase for s in steps],
        }
    # (first step, steps, wall, data wait, outside, syncs: sums; memory; measured apart)
    segments = [
        (s.i, 1, s.wall_ms, s.data_wait_ms, s.outside_ms, ev.step_syncs(s), s.memory, s.phase)
        for s in steps
    ]
    segments += [
        (
            b.first,
            b.count,
            b.wall_ms.sum,
            b.data_wait_ms.sum,
            b.outside_ms.sum,
            ev.step_syncs(b),
            b.memory,
            "",
        )
        for b in run.step_blocks
    ]
    segments.sort(key=lambda seg: seg[0])
    widest = max(b.last - b.first + 1 for b in run.step_blocks)
    width = max(math.ceil(run.step_count / MAX_BINS), widest)
    bins: dict[int, list[Any]] = {}
    for first, n, wall, wait, outside, syncs, memory, phase in segments:
        acc = bins.setdefault(first // width, [first, 0, 0.0, 0.0, 0.0, 0, None, ""])
        acc[1] += n
        acc[2] += wall
        acc[3] += wait
        acc[4] += outside
        acc[5] += syncs
        if memory is not None and memory.used_bytes is not None:
            acc[6] = memory.used_bytes
        acc[7] = acc[7] or phase
    rows = [bins[k] for k in sorted(bins)]
    return {
        "first_step": [r[0] for r in rows],
        "last_step": run.step_count - 1,
        "wall_ms": [round(r[2] / r[1], 4) for r in rows],
        "data_wait_ms": [round(r[3] / r[1], 4) for r in rows],
        "outside_ms": [round(r[4] / r[1], 4) for r in rows],
        "syncs": [round(r[5] / r[1], 3) for r in rows],
        "memory_bytes": [r[6] for r in rows],
        "phase": [r[7] for r in rows],
    }
