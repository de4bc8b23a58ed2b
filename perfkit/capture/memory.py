"""Per-step memory: CUDA allocator statistics when a GPU is in use, process RSS otherwise.

Read every step, so it must be cheap: the allocator counters are C calls, and on Linux RSS
comes from one ``pread`` of ``/proc/self/statm`` (~2 µs) rather than psutil (~17 µs).
"""

from __future__ import annotations

import os
from typing import Any

import psutil
import torch

_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


class MemoryReader:
    def __init__(self) -> None:
        self._statm: int | None = None
        self._pid = os.getpid()
        try:
            self._statm = os.open("/proc/self/statm", os.O_RDONLY)
        except OSError:
            self._process = psutil.Process()

    def rss_bytes(self) -> int:
        if self._statm is not None:
            return int(os.pread(self._statm, 128, 0).split()[1]) * _PAGE
        return self._process.memory_info().rss

    def read(self) -> dict[str, Any]:
        if torch.cuda.is_initialized():
            cuda = torch.cuda
            mem = {
                "allocated_bytes": cuda.memory_allocated(),
                "reserved_bytes": cuda.memory_reserved(),
                "peak_bytes": cuda.max_memory_allocated(),
            }
            cuda.reset_peak_memory_stats()
            return mem
        return {"rss_bytes": self.rss_bytes()}
