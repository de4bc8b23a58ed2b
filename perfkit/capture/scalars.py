"""perfkit's per-step figures as TensorBoard scalars, next to the profiler traces.

The Scalars dashboard works offline (the profiler plugin's pages do not), so it is where
the story over steps is told: step time, data wait, syncs, transfers, memory. Written by
the periodic flush, never from the training step, and only when the ``tensorboard``
package is installed (``pip install "perfkit[tensorboard]"``); otherwise the reason is
recorded and nothing else changes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

# Step-record field -> scalar tag (under "perfkit/").
SCALARS = {
    "wall_ms": "inside_step_ms",
    "data_wait_ms": "data_wait_ms",
    "outside_ms": "outside_step_ms",
}


class ScalarWriter:
    def __init__(self, log_dir: Path, rank: int | None) -> None:
        self.log_dir = log_dir
        self.prefix = "perfkit/" if rank is None else f"perfkit/rank{rank}/"
        self.written = 0
        self.status: dict[str, Any] = {"written": False, "reason": "no step written yet"}
        self._writer: Any = None

    def _open(self) -> Any:
        if self._writer is None:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError:
                self.status = {
                    "written": False,
                    "reason": "the tensorboard package is not "
                    "installed (pip install 'perfkit[tensorboard]')",
                }
                return None
            self.log_dir.mkdir(parents=True, exist_ok=True)
            self._writer = SummaryWriter(log_dir=str(self.log_dir))
            self.status = {"written": True, "reason": ""}
        return self._writer

    def write(self, steps: list[dict[str, Any]]) -> None:
        """Add the steps not written yet, then flush them to the event file."""
        new = steps[self.written :]
        if not new or (self._writer is None and self._open() is None):
            return
        w = self._writer
        for step in new:
            i = step["i"]
            # Step time as the report counts it: the step and the gap before it.
            w.add_scalar(self.prefix + "step_ms", step["wall_ms"] + step.get("outside_ms", 0.0), i)
            for field, tag in SCALARS.items():
                w.add_scalar(self.prefix + tag, step.get(field, 0.0), i)
            events = step.get("events") or {}
            w.add_scalar(self.prefix + "syncs", (events.get("syncs") or {}).get("count", 0), i)
            moved = (events.get("transfers") or {}).get("totals", {})
            w.add_scalar(self.prefix + "transfers", sum(t["count"] for t in moved.values()), i)
            memory = step.get("memory") or {}
            if memory:
                value = memory.get("allocated_bytes", memory.get("rss_bytes"))
                w.add_scalar(self.prefix + "memory_mib", value / 2**20, i)
        self.written = len(steps)
        w.flush()

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
