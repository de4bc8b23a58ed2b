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

from perfkit import sketch
from perfkit.capture.steplog import HEAD
from perfkit.runmodel import Events, Step, StepBlock

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
        self.through = -1  # the highest step index written
        self.status: dict[str, Any] = {"written": False, "reason": "no step written yet"}
        self._writer: Any = None
        self._tried = False  # whether opening the writer was tried (it fails once)

    def use_run_dir(self, run_dir: Path) -> None:
        """The session claimed ``run_dir``; nothing was written before."""
        self.log_dir = scalars_dir(run_dir, self.rank)

    @property
    def unopened(self) -> bool:
        return not self._tried

    def open(self) -> Any:
        self._tried = True
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

    def wants(self, index: int, complete: bool) -> bool:
        """Whether step ``index`` gets a point of its own now: one of the first steps, or
        at the end the last ones, and not written yet."""
        return index > self.through and (index < HEAD or complete)

    def write(self, steps: list[Step], blocks: list[StepBlock], complete: bool) -> None:
        """Add what was not written yet, then flush it to the event file: one point per step
        of the first ones, then one per block of folded steps once the block is full (a long
        run stays a few thousand points), and at the end the last steps."""
        points = [(step.i, _step_point(step)) for step in steps if self.wants(step.i, complete)]
        full = blocks if complete else blocks[:-1]
        points += [(b.last, _block_point(b)) for b in full if b.first > self.through]
        if not points or (self._writer is None and self.open() is None):
            return
        w = self._writer
        for i, values in sorted(points, key=lambda p: p[0]):
            for tag, value in values.items():
                w.add_scalar(self.prefix + tag, value, i)
            self.through = max(self.through, i)
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


def _step_point(step: Step) -> dict[str, float]:
    """A step's scalars; step time as the report counts it: the step and the gap before."""
    values = {"step_ms": step.period_ms}
    values.update({tag: getattr(step, name) for name, tag in SCALARS.items()})
    values.update(_event_counts(step.events, 1))
    used = step.memory.used_bytes if step.memory is not None else None
    if used is not None:
        values["memory_mib"] = used / 2**20
    return values


def _block_point(block: StepBlock) -> dict[str, float]:
    """A block's scalars: its median step, mean phases and events per step, last memory."""
    period = block.period_ms
    median = sketch.quantile(period.sketch(), period.zeros, 0.5)
    n = max(block.count, 1)
    values = {"step_ms": median if median is not None else period.sum / n}
    values.update({tag: getattr(block, name).sum / n for name, tag in SCALARS.items()})
    values.update(_event_counts(block.events, n))
    used = block.memory.used_bytes if block.memory is not None else None
    if used is not None:
        values["memory_mib"] = used / 2**20
    return values


def _event_counts(events: Events | None, steps: int) -> dict[str, float]:
    events = events or Events()
    moved = sum(t["count"] for t in events.transfers.totals.values())
    return {"syncs": events.syncs.count / steps, "transfers": moved / steps}
