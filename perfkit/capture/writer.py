"""Assemble the run file from a Session and write it, atomically and on a budget.

The periodic flush runs on the sampler thread, so the file stays fresh while training
runs; its interval stretches if writing gets expensive (a long run), keeping the cost
under ``FLUSH_BUDGET`` of wall time. A write that fails (disk full, read-only directory)
is reported once and training goes on.
"""

from __future__ import annotations

import contextlib
import os
import socket
import sys
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from perfkit.capture import env, guard
from perfkit.capture.memory import MemoryReader
from perfkit.capture.records import interval_events, site_counts, step_record
from perfkit.capture.scalars import ScalarWriter
from perfkit.escape import terminal_line
from perfkit.runfile import write_json_atomic
from perfkit.runmodel import (
    Capture,
    Env,
    FormatError,
    HeapScan,
    OutsideSteps,
    Probe,
    Run,
    Step,
    decode,
    to_json,
)

if TYPE_CHECKING:
    from perfkit.capture.session import Session

T = TypeVar("T")

FLUSH_BUDGET = 0.02
# Snapshotting reads dicts the training thread may be growing; retry a few times.
SNAPSHOT_TRIES = 5


class RunWriter:
    def __init__(self, session: Session, interval_s: float) -> None:
        self.session = session
        self.interval_s = interval_s
        # Re-entrant: a stop signal may save the run while this thread is writing it.
        self._lock = threading.RLock()
        self._last = 0.0
        self._cost = 0.0
        self._warned = False
        # Why the last write failed ("" once one succeeds), and whether any ever did.
        self.failure = ""
        self.wrote = False
        # Steps converted once and reused by every flush, for the session's current list:
        # their records (for TensorBoard) and their JSON.
        self._steps: list[Step] = []
        self._steps_json: list[dict[str, Any]] = []
        self._steps_of: list | None = None
        self.scalars = ScalarWriter(session.run_dir, session.rank)

    @property
    def path(self) -> Path:
        return self.session.run_dir / self.session.run_file_name

    def use_run_dir(self, run_dir: Path) -> None:
        """The session claimed its directory; nothing was written before."""
        self.scalars.use_run_dir(run_dir)

    def _new_steps(self) -> None:
        """Convert the steps recorded since the last flush (all of them after a re-cut)."""
        s = self.session
        steps = s.steps  # once: a re-cut may swap the list meanwhile
        if self._steps_of is not steps:
            self._steps_of, self._steps, self._steps_json = steps, [], []
        base = len(self._steps)
        for k, r in enumerate(steps[base:]):
            step = step_record(base + k, r, MemoryReader.record(r.memory), s.sites)
            self._steps.append(step)
            self._steps_json.append(to_json(step))

    def maybe_flush(self) -> None:
        """Called from the sampler thread at every tick; never while the profiler records,
        since its Python tracer would record the write too (and TensorBoard's imports)."""
        if self.session.profiler_recording():
            return
        now = time.perf_counter()
        if now - self._last >= max(self.interval_s, self._cost / FLUSH_BUDGET):
            self.flush(complete=False)

    def flush(self, complete: bool) -> None:
        s = self.session
        if s.closed and not complete:
            return
        with self._lock:
            t0 = time.perf_counter()
            guard.call("the TensorBoard scalars", self._write_scalars, complete)
            guard.call("writing the run file", self._write_run_file, complete)
            self._last = time.perf_counter()
            self._cost = self._last - t0

    def _write_run_file(self, complete: bool) -> None:
        for attempt in range(SNAPSHOT_TRIES):
            try:
                self._new_steps()
                data = to_json(self.snapshot(complete))
                break
            except RuntimeError:  # "dictionary changed size during iteration"
                if attempt == SNAPSHOT_TRIES - 1:
                    raise
        try:
            data["steps"] = list(self._steps_json)  # the same to_json, done once per step
            write_json_atomic(self.path, data)
            self.failure, self.wrote = "", True
        except (OSError, ValueError) as e:  # a full disk or a read-only directory
            self.failure = str(e)
            if not self._warned:
                self._warned = True
                print(
                    terminal_line(f"perfkit: cannot write {self.path}: {e}; training goes on"),
                    file=sys.stderr,
                )

    def drop_claim(self) -> None:
        """Nothing was ever written: remove the empty run file that claimed the folder."""
        with contextlib.suppress(OSError):
            if not self.wrote and self.path.stat().st_size == 0:
                self.path.unlink()

    def _write_scalars(self, complete: bool) -> None:
        self._new_steps()
        self.scalars.write(list(self._steps))
        if complete:
            self.scalars.close()

    def snapshot(self, complete: bool) -> Run:
        """The run as it stands, steps left out (the flush adds them, converted once)."""
        s = self.session
        sites = s.sites
        outside = interval_events(s.recorder.outside, sites)
        scans = tuple(
            scan
            for i, g in enumerate(list(s.work.graph_scans))
            if (scan := _record(HeapScan, g, f"graph_scans[{i}]")) is not None
        )
        probe = _record(Probe, s.work.probe_record, "probe") if s.work.probe_record else None
        # Read again each time: the process group is usually set up after the session starts.
        run_env = _record(Env, {**s.env, "distributed": env.distributed()}, "env") or Env()
        return Run(
            complete=complete,
            env=run_env,
            # Last: it lists the errors, those of the records above included.
            capture=_record(Capture, s.capture_info(), "capture") or Capture(),
            config=s.config.record(sites, tuple(info.record(sites) for info in list(s.loaders))),
            steps=(),
            outside_steps=OutsideSteps(
                syncs=outside.syncs,
                transfers=outside.transfers,
                empty_cache=outside.empty_cache,
                gap_sync_sites=site_counts(s.recorder.gap_sync_sites, sites),
            ),
            eval_forwards=s.eval_watch.record(sites),
            graph_scans=scans,
            probe=probe,
            samples=s.sampler.snapshot(),
            traces=tuple(self._traces()),
            sites=sites.records(),
        )

    def _traces(self) -> list[str]:
        traces_dir = self.session.run_dir  # see ProfilerWindow
        if not traces_dir.is_dir():
            return []
        # Only this process's traces: the ranks of a job share the directory.
        mine = f"{socket.gethostname()}_{os.getpid()}."
        return sorted(
            str(p.relative_to(self.session.run_dir))
            for p in traces_dir.glob("*.pt.trace.json*")
            if p.name.startswith(mine)
        )


def _record(cls: type[T], data: dict[str, Any], where: str) -> T | None:
    """A capture record in its run-file type. One whose shape is wrong (a bug, or a library
    setting of an odd type) is reported and left out: it must not cost the run file."""
    try:
        return decode(cls, data, where)
    except FormatError as e:
        guard.internal_error(f"recording {where}", e)
        return None
