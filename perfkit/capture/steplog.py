"""The steps of a session in bounded memory, however long it runs.

Kept whole: the first ``HEAD`` steps, the steps that are measured apart (probe, profiler
window), the first ``MAX_ERRORS`` steps that raised, and the last ``TAIL``. Every other
step is folded into the block of steps it falls in: exact count, sum, min and max of each
phase, a quantile sketch (perfkit/sketch.py), the memory readings' last and highest, and
the syncs and transfers as running totals per call site. Blocks are ``width`` steps wide;
past ``MAX_BLOCKS`` neighbours merge and the width doubles, so a week-long job holds a few
thousand records.

The training thread only appends (``append`` is ``list.append``); folding runs on the
writer's thread at each sampler tick, or on the training thread when the ticks fall
behind (``FOLD_AT`` records waiting), under a lock, with numpy over a whole chunk at once.
"""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from perfkit import sketch
from perfkit.capture.memory import MemoryReader
from perfkit.capture.records import Interval, SiteTable, StepRecord, interval_events
from perfkit.runmodel import Spread, StepBlock

HEAD = 2000
TAIL = 1000
MAX_ERRORS = 100
BLOCK_WIDTH = 1000
MAX_BLOCKS = 512
# The training thread folds itself when this many records wait (the writer fell behind).
FOLD_AT = 4 * TAIL

PHASES = ("wall", "outside", "data_wait", "period")


@dataclass
class SpreadAcc:
    """One phase of a block, being filled: sum, min, max and the sketch (ms)."""

    sum: float = 0.0
    min: float = float("inf")
    max: float = float("-inf")
    zeros: int = 0
    counts: Counter[int] = field(default_factory=Counter)

    def add(self, values: np.ndarray) -> None:
        self.sum += float(values.sum())
        self.min = min(self.min, float(values.min()))
        self.max = max(self.max, float(values.max()))
        positive = values[values > sketch.TINY]
        self.zeros += len(values) - len(positive)
        if len(positive):
            index = np.ceil(np.log(positive) / np.log(sketch.GAMMA)).astype(np.int64)
            buckets, counts = np.unique(index, return_counts=True)
            self.counts.update(dict(zip(buckets.tolist(), counts.tolist(), strict=True)))

    def merge(self, other: SpreadAcc) -> None:
        self.sum += other.sum
        self.min = min(self.min, other.min)
        self.max = max(self.max, other.max)
        self.zeros += other.zeros
        self.counts.update(other.counts)


@dataclass
class BlockAcc:
    """A block of folded steps, being filled."""

    first: int
    last: int
    t: float
    count: int = 0
    phases: dict[str, SpreadAcc] = field(default_factory=lambda: {p: SpreadAcc() for p in PHASES})
    batches: int = 0
    errors: int = 0
    memory: Any = None  # the last reading (MemoryReader's hot-path form)
    memory_peak: int | None = None
    events: Interval | None = None

    def merge(self, other: BlockAcc) -> None:
        """Take in the next block (its steps come after this one's)."""
        self.last, self.count = other.last, self.count + other.count
        for name, acc in self.phases.items():
            acc.merge(other.phases[name])
        self.batches += other.batches
        self.errors += other.errors
        if other.memory is not None:
            self.memory = other.memory
        self.memory_peak = _highest(self.memory_peak, other.memory_peak)
        if other.events is not None:
            if self.events is None:
                self.events = Interval()
            self.events.merge_events(other.events)


def _highest(a: int | None, b: int | None) -> int | None:
    return b if a is None else a if b is None else max(a, b)


class StepLog:
    """A session's steps: ``append`` on the hot path, ``fold`` off it."""

    def __init__(self) -> None:
        self.recent: list[StepRecord] = []  # the steps not folded yet, from index ``base``
        self.append = self.recent.append
        self.base = 0
        self.kept: list[tuple[int, StepRecord]] = []  # (index, record) kept whole, in order
        self.blocks: dict[int, BlockAcc] = {}
        self.width = BLOCK_WIDTH
        self.errors_kept = 0
        self._lock = threading.Lock()

    def __len__(self) -> int:
        with self._lock:
            return self.base + len(self.recent)

    def maybe_fold(self) -> None:
        """From the training thread, cheaply: fold only when the writer fell far behind."""
        if len(self.recent) >= FOLD_AT:
            self.fold()

    def fold(self) -> None:
        """Fold all but the last TAIL waiting steps."""
        with self._lock:
            n = len(self.recent) - TAIL
            if n <= 0:
                return
            chunk = self.recent[:n]
            self._fold(self.base, chunk)
            # The training thread appends meanwhile; only the front is removed.
            del self.recent[:n]
            self.base += n

    def _fold(self, base: int, chunk: list[StepRecord]) -> None:
        """Keep what must stay whole, fold the rest block by block. Column-wise (zip, numpy)
        rather than record by record: folding is most of perfkit's cost on a tiny step."""
        whole = set(range(max(0, min(HEAD - base, len(chunk)))))  # the first steps
        for k, record in enumerate(chunk):
            if record.phase:
                whole.add(k)
            elif record.error is not None and self.errors_kept < MAX_ERRORS:
                self.errors_kept += 1
                whole.add(k)
        self.kept += [(base + k, chunk[k]) for k in sorted(whole)]
        index = np.arange(base, base + len(chunk))
        if whole:
            keep = np.ones(len(chunk), dtype=bool)
            keep[sorted(whole)] = False
            index = index[keep]
            chunk = [r for k, r in enumerate(chunk) if k not in whole]
        if not chunk:
            return
        block = (index - HEAD) // self.width
        cuts = np.flatnonzero(np.diff(block)) + 1
        for lo, hi in zip([0, *cuts.tolist()], [*cuts.tolist(), len(chunk)], strict=True):
            self._add(int(block[lo]), int(index[lo]), int(index[hi - 1]), chunk[lo:hi])
        while len(self.blocks) > MAX_BLOCKS:
            self._coarsen()

    def _add(self, block: int, first: int, last: int, records: list[StepRecord]) -> None:
        acc = self.blocks.get(block)
        if acc is None:
            acc = self.blocks[block] = BlockAcc(first, first, records[0].start_s)
        acc.last = last
        acc.count += len(records)
        columns = list(zip(*records, strict=True))
        wall, outside, wait = (np.array(columns[k], dtype=np.float64) * 1e3 for k in (1, 2, 3))
        for name, values in zip(PHASES, (wall, outside, wait, wall + outside), strict=True):
            acc.phases[name].add(values)
        acc.batches += sum(columns[4])
        acc.errors += len(records) - columns[8].count(None)
        memory = [m for m in columns[5] if m is not None]
        if memory:
            acc.memory = memory[-1]
            acc.memory_peak = _highest(acc.memory_peak, max(map(MemoryReader.highest, memory)))
        for events in columns[6]:
            if events is not None:
                if acc.events is None:
                    acc.events = Interval()
                acc.events.merge_events(events)

    def _coarsen(self) -> None:
        """Merge neighbouring blocks: the width doubles, the count of blocks halves."""
        merged: dict[int, BlockAcc] = {}
        for block in sorted(self.blocks):
            acc = self.blocks[block]
            into = merged.get(block // 2)
            if into is None:
                merged[block // 2] = acc
            else:
                into.merge(acc)
        self.blocks = merged
        self.width *= 2

    def snapshot(self) -> tuple[list[tuple[int, StepRecord]], list[BlockAcc]]:
        """(index, record) of every step kept whole, in order, and the blocks, in order.
        The blocks are the live accumulators: read them under ``locked``."""
        with self._lock:
            recent = list(enumerate(self.recent, start=self.base))
            return [*self.kept, *recent], [self.blocks[b] for b in sorted(self.blocks)]

    @property
    def locked(self) -> threading.Lock:
        return self._lock

    def records(self) -> list[StepRecord]:
        """Every record still held whole (kept and recent), for a re-cut at the start."""
        kept, _ = self.snapshot()
        return [r for _, r in kept]

    def merged_blocks(self) -> tuple[Interval, float, int]:
        """The folded steps' events, data wait (s) and batches, for a re-cut."""
        events, wait_ms, batches = Interval(), 0.0, 0
        with self._lock:
            for acc in self.blocks.values():
                if acc.events is not None:
                    events.merge_events(acc.events)
                wait_ms += acc.phases["data_wait"].sum
                batches += acc.batches
        return events, wait_ms / 1e3, batches


def block_record(acc: BlockAcc, sites: SiteTable) -> StepBlock:
    """The run-file record of a block."""
    phases = {name: _spread(spread) for name, spread in acc.phases.items()}
    return StepBlock(
        first=acc.first,
        last=acc.last,
        count=acc.count,
        t=round(acc.t, 6),
        wall_ms=phases["wall"],
        outside_ms=phases["outside"],
        data_wait_ms=phases["data_wait"],
        period_ms=phases["period"],
        batches=acc.batches,
        errors=acc.errors,
        memory=MemoryReader.record(acc.memory),
        memory_peak_bytes=acc.memory_peak,
        events=interval_events(acc.events, sites) if acc.events is not None else None,
    )


def _spread(acc: SpreadAcc) -> Spread:
    buckets = sorted(acc.counts)
    return Spread(
        sum=round(acc.sum, 4),
        min=round(acc.min, 4),
        max=round(acc.max, 4),
        zeros=acc.zeros,
        buckets=tuple(buckets),
        counts=tuple(acc.counts[b] for b in buckets),
    )
