"""Per-interval counters filled by the probes, and their run-file form.

An ``Interval`` collects what happens between two step boundaries: syncs and transfers
keyed by call site, DataLoader wait, ``empty_cache`` calls. The hot path only does dict
increments; turning keys into site indices happens once per step.
"""

from __future__ import annotations

import threading
from typing import Any, NamedTuple

from perfkit.capture.callsite import SiteKey, describe_site
from perfkit.runmodel import (
    Events,
    Memory,
    Site,
    SiteCount,
    Step,
    Syncs,
    SyncSite,
    Transfers,
    TransferSite,
)

# Transfer directions. "intent" is a .to(device)/.cuda() call that moved nothing because
# source and target are the same device (a CPU-only machine running GPU code): recorded
# so the pattern is visible where it would cost on an accelerator.
H2D, D2H, D2D, INTENT = "h2d", "d2h", "d2d", "intent"


class Interval:
    __slots__ = ("syncs", "transfers", "data_wait_s", "batches", "empty_cache")

    def __init__(self, data_wait_s: float = 0.0, batches: int = 0) -> None:
        self.syncs: dict[tuple[SiteKey, str], int] = {}
        # (site, direction, pinned, non_blocking) -> [count, bytes]
        self.transfers: dict[tuple[SiteKey, str, bool, bool], list[int]] = {}
        self.data_wait_s = data_wait_s
        self.batches = batches
        self.empty_cache: dict[SiteKey, int] = {}

    def has_events(self) -> bool:
        return bool(self.syncs or self.transfers or self.empty_cache)

    def add_sync(self, key: SiteKey, kind: str) -> None:
        k = (key, kind)
        self.syncs[k] = self.syncs.get(k, 0) + 1

    def add_transfer(
        self, key: SiteKey, direction: str, nbytes: int, pinned: bool, non_blocking: bool
    ) -> None:
        k = (key, direction, pinned, non_blocking)
        slot = self.transfers.get(k)
        if slot is None:
            self.transfers[k] = [1, nbytes]
        else:
            slot[0] += 1
            slot[1] += nbytes

    def add_empty_cache(self, key: SiteKey) -> None:
        self.empty_cache[key] = self.empty_cache.get(key, 0) + 1

    def merge_events(self, other: Interval) -> None:
        """Add another interval's syncs, transfers and empty_cache calls to this one."""
        for k, n in other.syncs.items():
            self.syncs[k] = self.syncs.get(k, 0) + n
        for moved, (n, b) in other.transfers.items():
            slot = self.transfers.setdefault(moved, [0, 0])
            slot[0] += n
            slot[1] += b
        for k, n in other.empty_cache.items():
            self.empty_cache[k] = self.empty_cache.get(k, 0) + n


class StepRecord(NamedTuple):
    """One step as the hot path stores it; ``step_record`` makes the run-file form."""

    start_s: float  # since the session started
    wall_s: float
    outside_s: float  # since the previous step ended
    data_wait_s: float  # inside DataLoader.__next__ since the previous step ended
    batches: int
    memory: Any  # see MemoryReader.read; None on steps between RSS readings
    events: Interval | None  # None when the step had no sync, transfer or empty_cache
    phase: str  # "", "probe", "warmup" or "active"
    error: str | None


def step_record(index: int, step: StepRecord, memory: Memory | None, sites: SiteTable) -> Step:
    """The run-file record of a step (times in ms, rounded to 0.1 µs)."""
    return Step(
        i=index,
        t=round(step.start_s, 6),
        wall_ms=round(step.wall_s * 1e3, 4),
        outside_ms=round(step.outside_s * 1e3, 4),
        data_wait_ms=round(step.data_wait_s * 1e3, 4),
        batches=step.batches,
        memory=memory,
        events=interval_events(step.events, sites) if step.events is not None else None,
        phase=step.phase,
        error=step.error,
    )


class SiteTable:
    """Interns call sites: the run file lists each once and records refer to it by index."""

    def __init__(self) -> None:
        self._index: dict[SiteKey, int] = {}
        self._keys: list[SiteKey] = []
        self._lock = threading.Lock()  # the writer thread interns sites too

    def index(self, key: SiteKey) -> int:
        i = self._index.get(key)
        if i is None:
            with self._lock:
                i = self._index.get(key)
                if i is None:
                    self._keys.append(key)
                    i = self._index[key] = len(self._keys) - 1
        return i

    def records(self) -> tuple[Site, ...]:
        return tuple(describe_site(k) for k in list(self._keys))


def syncs_record(interval: Interval, sites: SiteTable) -> Syncs:
    by_kind: dict[str, int] = {}
    listed = []
    for (key, kind), n in interval.syncs.items():
        by_kind[kind] = by_kind.get(kind, 0) + n
        listed.append(SyncSite(site=sites.index(key), kind=kind, count=n))
    return Syncs(count=sum(by_kind.values()), by_kind=by_kind, sites=tuple(listed))


def transfers_record(interval: Interval, sites: SiteTable) -> Transfers:
    totals: dict[str, dict[str, int]] = {}
    listed = []
    for (key, direction, pinned, non_blocking), (n, nbytes) in interval.transfers.items():
        t = totals.setdefault(
            direction, {"count": 0, "bytes": 0, "pinned": 0, "pageable": 0, "non_blocking": 0}
        )
        t["count"] += n
        t["bytes"] += nbytes
        t["pinned" if pinned else "pageable"] += n
        t["non_blocking"] += n if non_blocking else 0
        listed.append(
            TransferSite(
                site=sites.index(key),
                direction=direction,
                count=n,
                bytes=nbytes,
                pinned=pinned,
                non_blocking=non_blocking,
            )
        )
    return Transfers(totals=totals, sites=tuple(listed))


def site_counts(counts: dict[SiteKey, int], sites: SiteTable) -> tuple[SiteCount, ...]:
    return tuple(SiteCount(site=sites.index(k), count=n) for k, n in list(counts.items()))


def interval_events(interval: Interval, sites: SiteTable) -> Events:
    """Syncs, transfers and empty_cache calls of an interval, as run-file records."""
    return Events(
        syncs=syncs_record(interval, sites),
        transfers=transfers_record(interval, sites),
        empty_cache=site_counts(interval.empty_cache, sites),
    )
