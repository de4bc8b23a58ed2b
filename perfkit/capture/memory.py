"""Per-step memory: CUDA allocator statistics when a GPU is in use, process RSS otherwise.

Read at every step end, so it must be cheap. The allocator counters are C calls, read every
step. RSS needs a system call (``pread`` of ``/proc/self/statm``: ~2 µs in a tight loop,
~8 µs right after a real training step, when caches are cold), so it is read at most every
``RSS_INTERVAL_S``; other steps carry no reading. The hot path returns a bare int, tuple or
None; ``to_json`` names the fields when the file is written.
"""

from __future__ import annotations

import os

import psutil
import torch

from perfkit.runmodel import Memory

_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
# At most one RSS reading per this many seconds (the sampler thread adds 10 Hz of its own).
RSS_INTERVAL_S = 0.05


class MemoryReader:
    def __init__(self) -> None:
        # Whether to ask the CUDA allocator; decided once CUDA is initialised (asking
        # torch.cuda.is_initialized() itself costs microseconds after a real step).
        self._cuda_possible = torch.cuda.is_available()
        self._cuda = False
        self._statm: int | None = None
        self._next_rss = 0.0
        try:
            self._statm = os.open("/proc/self/statm", os.O_RDONLY)
        except OSError:
            self._process = psutil.Process()

    def rss_bytes(self) -> int:
        if self._statm is not None:
            return int(os.pread(self._statm, 128, 0).split()[1]) * _PAGE
        return self._process.memory_info().rss

    def read(self, now: float) -> int | tuple[int, int, int] | None:
        """(allocated, reserved, peak so far) CUDA bytes, or RSS bytes, or None. The peak is
        never reset: the script's own ``max_memory_allocated()`` reads the same counter."""
        if self._cuda or (self._cuda_possible and torch.cuda.is_initialized()):
            self._cuda = True
            cuda = torch.cuda
            return cuda.memory_allocated(), cuda.memory_reserved(), cuda.max_memory_allocated()
        if now < self._next_rss:
            return None
        self._next_rss = now + RSS_INTERVAL_S
        return self.rss_bytes()

    @staticmethod
    def record(reading: int | tuple[int, int, int] | None) -> Memory | None:
        if reading is None:
            return None
        if isinstance(reading, tuple):
            allocated, reserved, peak = reading
            return Memory(allocated_bytes=allocated, reserved_bytes=reserved, peak_bytes=peak)
        return Memory(rss_bytes=reading)

    @staticmethod
    def highest(reading: int | tuple[int, int, int]) -> int:
        """The reading's highest figure: the allocator's peak, else the RSS."""
        return reading[2] if isinstance(reading, tuple) else reading
