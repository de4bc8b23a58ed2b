"""Which ranks of a job record the profiler window: by default a few, not every one.

A trace on every rank costs every rank its window and the report one trace read per rank
(a second or more each); a thousand traces of one lockstep job say little more than a
handful. By default (``auto``) rank 0 records, the local rank 0 of each node (one per host:
what is wrong with a host shows there), and ``SAMPLED`` other ranks picked by a hash of
their number, the same set on every rank without any rank asking another. ``all`` records
on every rank; a list of ranks (``[0, 5]``, ``"0,5"``) on those only.

Every rank knows the window's schedule, so the ranks that do not record it still leave
its steps out of their timing (``peer_phase``): in lockstep they wait for the ranks that
record, and every rank's timed steps stay the same steps.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable
from dataclasses import dataclass

# Ranks sampled beyond rank 0 and each node's local rank 0.
SAMPLED = 4


@dataclass(frozen=True)
class WindowRanks:
    mode: str  # "auto", "all", or "list"
    ranks: frozenset[int] = frozenset()

    @classmethod
    def parse(cls, value: object) -> WindowRanks:
        """``"auto"``, ``"all"``, ranks as ``"0,5"`` or an iterable of ints."""
        if isinstance(value, WindowRanks):
            return value
        if isinstance(value, str):
            text = value.strip().lower()
            if text in ("auto", "all"):
                return cls(text)
            parts = [p.strip() for p in text.split(",")]
            if all(p.isdecimal() for p in parts):
                return cls("list", frozenset(int(p) for p in parts))
        elif isinstance(value, Iterable):
            ranks = list(value)
            whole = all(isinstance(r, int) and not isinstance(r, bool) for r in ranks)
            if ranks and whole and min(ranks) >= 0:
                return cls("list", frozenset(ranks))
        raise ValueError(f"window_ranks must be 'auto', 'all' or ranks (0,5), not {value!r}")

    def __str__(self) -> str:
        return self.mode if self.mode != "list" else ",".join(map(str, sorted(self.ranks)))

    def why_not(self, rank: int, local_rank: int | None, world_size: int) -> str:
        """Why ``rank`` records no window ("" when it records one)."""
        if self.mode == "all":
            return ""
        if self.mode == "list":
            listed = ",".join(map(str, sorted(self.ranks)))
            return "" if rank in self.ranks else f"not one of window_ranks {listed}"
        if rank == 0 or local_rank == 0 or rank in sampled_ranks(world_size):
            return ""
        return (
            f"window_ranks auto: rank 0, each node's local rank 0 and {SAMPLED} sampled "
            "ranks record it"
        )


def sampled_ranks(world_size: int, n: int = SAMPLED) -> frozenset[int]:
    """``n`` ranks of ``world_size``, the same on every rank and every run of the job."""

    def key(rank: int) -> bytes:
        return hashlib.blake2b(f"perfkit-window-{rank}".encode(), digest_size=8).digest()

    return frozenset(sorted(range(world_size), key=key)[:n])


def local_rank() -> int | None:
    """This process's rank on its node, as torchrun (or another launcher) says."""
    value = os.environ.get("LOCAL_RANK", "")
    return int(value) if value.isdecimal() else None


def world_size() -> int:
    value = os.environ.get("WORLD_SIZE", "")
    return int(value) if value.isdecimal() else 1
