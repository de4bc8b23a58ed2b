"""Trace events as compact columns: what an event is (by category), and start, duration,
interned name and thread per event in typed arrays, built a field at a time with numpy
from each batch the stream decodes (summary.py computes the per-step figures over them).
"""

from __future__ import annotations

from array import array
from dataclasses import dataclass
from itertools import compress
from typing import Any

import numpy as np

from perfkit.trace.events import Event

# What an event is, by its category (lower-cased); kernels, copies and memsets run on a
# GPU stream, told apart from CPU threads.
NONE, CPU, RUNTIME, KERNEL, MEMCPY, MEMSET, PYTHON = range(7)
CATEGORIES = {
    **dict.fromkeys(("cpu_op", "operator", "user_annotation"), CPU),
    **dict.fromkeys(("cuda_runtime", "runtime", "cuda_driver"), RUNTIME),
    "kernel": KERNEL,
    **dict.fromkeys(("gpu_memcpy", "memcpy"), MEMCPY),
    **dict.fromkeys(("gpu_memset", "memset"), MEMSET),
    "python_function": PYTHON,
}
# Bounds of a sane event: microseconds since the epoch are ~1.8e15; an event longer than
# ~12 days is a corrupt or hostile file's, and is left out.
MAX_TIME_US = 1e18
MAX_EVENT_US = 1e12


class Names:
    """Interned names: one small int per event instead of a string reference."""

    def __init__(self) -> None:
        self.index: dict[str, int] = {}

    def __len__(self) -> int:
        return len(self.index)

    @property
    def names(self) -> list[str]:
        return list(self.index)  # in the order first seen, so a name's id is its place

    def ids(self, names: list[Any]) -> np.ndarray:
        return ids_of(self.index, names)


class Column:
    """start, duration, name id and thread id per event, in typed arrays."""

    def __init__(self) -> None:
        self.start = array("d")
        self.dur = array("d")
        self.name = array("q")
        self.thread = array("q")

    def extend(self, start: np.ndarray, dur: np.ndarray, name: Any, thread: Any) -> None:
        n = len(start)
        self.start.frombytes(start.tobytes())
        self.dur.frombytes(dur.tobytes())
        self.name.frombytes(np.broadcast_to(np.asarray(name, np.int64), n).tobytes())
        self.thread.frombytes(np.broadcast_to(np.asarray(thread, np.int64), n).tobytes())

    def arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        return (
            np.frombuffer(self.start, dtype=np.float64),
            np.frombuffer(self.dur, dtype=np.float64),
            np.frombuffer(self.name, dtype=np.int64),
            np.frombuffer(self.thread, dtype=np.int64),
        )


@dataclass
class Batch:
    """A batch's complete events (those with a name and a sane time), a field at a time."""

    events: list[Event]
    name: list[str]
    thread_key: list[Any]  # the tid, or ("gpu", pid, tid) for a GPU stream
    ts: np.ndarray
    dur: np.ndarray
    kind: np.ndarray  # CPU, KERNEL ... by category
    thread: np.ndarray  # the index of thread_key in the collector's threads

    @classmethod
    def complete(cls, events: list[Event], threads: dict[Any, int]) -> Batch:
        name: list[Any] = [e.name for e in events]
        ts = np.array([e.ts for e in events], dtype=np.float64)  # None: NaN
        # JSON's 1e308 overflows any sum: no event of a profiled window sits that far.
        valid = np.abs(ts) < MAX_TIME_US
        if None in name:
            valid &= np.array([n is not None for n in name], dtype=bool)
        if not valid.all():
            keep = valid.tolist()
            events, name, ts = list(compress(events, keep)), list(compress(name, keep)), ts[valid]
        dur = np.array([e.dur for e in events], dtype=np.float64)
        dur[~((dur > 0) & (dur < MAX_EVENT_US))] = 0.0  # none (NaN) or absurd: no length
        cats = [e.cat for e in events]
        kinds = {c: CATEGORIES.get(c.lower(), NONE) for c in set(cats)}
        kind = np.fromiter(map(kinds.__getitem__, cats), np.int8, len(cats))
        key: list[Any] = [e.tid for e in events]
        for i in np.flatnonzero((kind >= KERNEL) & (kind <= MEMSET)).tolist():
            key[i] = ("gpu", events[i].pid, key[i])
        return cls(events, name, key, ts, dur, kind, ids_of(threads, key))

    def fold(self, column: Column, names: Names, rows: np.ndarray) -> None:
        """Append the events at ``rows`` to ``column``, their names interned in ``names``."""
        if len(rows):
            ids = names.ids([self.name[i] for i in rows.tolist()])
            column.extend(self.ts[rows], self.dur[rows], ids, self.thread[rows])


def ids_of(index: dict[Any, int], keys: list[Any]) -> np.ndarray:
    """Each key's id in ``index``, where a new key gets the next: in the order first seen."""
    for key in dict.fromkeys(keys):  # a batch holds few distinct names and threads
        index.setdefault(key, len(index))
    return np.fromiter(map(index.__getitem__, keys), np.int64, len(keys))
