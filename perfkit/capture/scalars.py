"""perfkit's per-step figures as TensorBoard scalars, next to the profiler traces.

The Scalars dashboard works offline (the profiler plugin's pages do not), so it is where
the story over steps is told: step time, data wait, syncs, transfers, memory. Written by
the periodic flush, never from the training step, and only when the ``tensorboard``
package is installed (``pip install "perfkit[tensorboard]"``); otherwise the reason is
recorded and nothing else changes.

TensorBoard names a run after the folder that holds its event files, relative to
``--logdir``. A single process writes into the run directory itself, so the run is shown
under the directory's name; rank R of a torchrun job writes into ``rank<R>/`` in it, so
each rank is a run of its own (``<run dir>/rank0``, ``<run dir>/rank1`` ...) and their
curves overlay on the same tags.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from perfkit.runmodel import Events, Step

# Step-record field -> scalar tag (under "perfkit/").
SCALARS = {
    "wall_ms": "inside_step_ms",
    "data_wait_ms": "data_wait_ms",
    "outside_ms": "outside_step_ms",
}


def scalars_dir(run_dir: Path, rank: int | None) -> Path:
    """Where a process's event files go: the run directory, or ``rank<R>/`` in it."""
    return run_dir if rank is None else run_dir / f"rank{rank}"


class ScalarWriter:
    def __init__(self, run_dir: Path, rank: int | None) -> None:
        self.rank = rank
        self.log_dir = scalars_dir(run_dir, rank)
        # The same tags on every rank, so that TensorBoard overlays the ranks' curves.
        self.prefix = "perfkit/"
        self.written = 0
        self.status: dict[str, Any] = {"written": False, "reason": "no step written yet"}
        self._writer: Any = None

    def use_run_dir(self, run_dir: Path) -> None:
        """The session claimed ``run_dir``; nothing was written before."""
        self.log_dir = scalars_dir(run_dir, self.rank)

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
            _quiet_tensorboard_thread_errors()
            self._writer = SummaryWriter(log_dir=str(self.log_dir))
            self.status = {"written": True, "reason": ""}
        return self._writer

    def write(self, steps: list[Step]) -> None:
        """Add the steps not written yet, then flush them to the event file."""
        new = steps[self.written :]
        if not new or (self._writer is None and self._open() is None):
            return
        w = self._writer
        for step in new:
            i = step.i
            # Step time as the report counts it: the step and the gap before it.
            w.add_scalar(self.prefix + "step_ms", step.period_ms, i)
            for field, tag in SCALARS.items():
                w.add_scalar(self.prefix + tag, getattr(step, field), i)
            events = step.events or Events()
            w.add_scalar(self.prefix + "syncs", events.syncs.count, i)
            moved = events.transfers.totals.values()
            w.add_scalar(self.prefix + "transfers", sum(t["count"] for t in moved), i)
            used = step.memory.used_bytes if step.memory is not None else None
            if used is not None:
                w.add_scalar(self.prefix + "memory_mib", used / 2**20, i)
        self.written = len(steps)
        w.flush()

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()


_hook_installed = False


def _quiet_tensorboard_thread_errors() -> None:
    """TensorBoard writes from a thread of its own, which dies with a traceback on stderr
    when the disk is full. The next flush hears of it and perfkit says so in one line
    (``guard``), so that thread's OSError is not printed; anything else is."""
    global _hook_installed
    if _hook_installed:
        return
    _hook_installed = True
    previous = threading.excepthook

    def hook(args: threading.ExceptHookArgs) -> None:
        from_tensorboard = type(args.thread).__module__.startswith("tensorboard.")
        if not (from_tensorboard and issubclass(args.exc_type, OSError)):
            previous(args)

    threading.excepthook = hook
