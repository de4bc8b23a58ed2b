"""Assemble the run file from a Session and write it, atomically and on a budget.

The periodic flush runs on the sampler thread, so the file stays fresh while training
runs; its interval stretches if writing gets expensive (a long run), keeping the cost
under ``FLUSH_BUDGET`` of wall time. A write that fails (disk full, read-only directory)
is reported once and training goes on.
"""

from __future__ import annotations

import os
import socket
import sys
import threading
import time
from typing import TYPE_CHECKING, Any

from perfkit.capture import env, guard
from perfkit.capture.memory import MemoryReader
from perfkit.capture.records import interval_events_to_json, site_counts_to_json, step_to_json
from perfkit.capture.scalars import ScalarWriter
from perfkit.runfile import SCHEMA, write_json_atomic

if TYPE_CHECKING:
    from perfkit.capture.session import Session

FLUSH_BUDGET = 0.02
# Snapshotting reads dicts the training thread may be growing; retry a few times.
SNAPSHOT_TRIES = 5


class RunWriter:
    def __init__(self, session: Session, interval_s: float) -> None:
        self.session = session
        self.interval_s = interval_s
        self.path = session.run_dir / session.run_file_name
        self._lock = threading.Lock()
        self._last = 0.0
        self._cost = 0.0
        self._warned = False
        # Steps converted once and reused by every flush, for the session's current list.
        self._steps_json: list[dict[str, Any]] = []
        self._steps_of: list | None = None
        self.scalars = ScalarWriter(session.run_dir / "traces", session.rank)

    def _steps(self) -> list[dict[str, Any]]:
        s = self.session
        if self._steps_of is not s.steps:
            self._steps_of, self._steps_json = s.steps, []
        done = self._steps_json
        base = len(done)
        for k, r in enumerate(s.steps[base:]):
            done.append(step_to_json(base + k, r, MemoryReader.to_json(r.memory), s.sites))
        return list(done)

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
        if s._closed and not complete:
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
                data = self._assemble(complete)
                break
            except RuntimeError:  # "dictionary changed size during iteration"
                if attempt == SNAPSHOT_TRIES - 1:
                    raise
        try:
            write_json_atomic(self.path, data)
        except (OSError, ValueError) as e:  # a full disk or a read-only directory
            if not self._warned:
                self._warned = True
                print(f"perfkit: cannot write {self.path}: {e}; training goes on", file=sys.stderr)

    def _write_scalars(self, complete: bool) -> None:
        self.scalars.write(self._steps())
        if complete:
            self.scalars.close()

    def _assemble(self, complete: bool) -> dict[str, Any]:
        s = self.session
        sites = s.sites
        return {
            "schema": SCHEMA,
            "complete": complete,
            # Read again each time: the process group is usually set up after the session starts.
            "env": {**s.env, "distributed": env.distributed()},
            "capture": s.capture_info(),
            "config": {
                **s.config.to_json(sites),
                "dataloaders": [info.to_json(sites) for info in list(s.loaders)],
            },
            "steps": self._steps(),
            "outside_steps": {
                **interval_events_to_json(s._outside, sites),
                "gap_sync_sites": site_counts_to_json(dict(s.gap_sync_sites), sites),
            },
            "eval_forwards": s.eval_watch.to_json(sites),
            "graph_scans": list(s.graph_scans),
            "probe": dict(s.probe_record),
            "samples": s.sampler.snapshot(),
            "traces": self._traces(),
            "sites": sites.to_json(),
        }

    def _traces(self) -> list[str]:
        traces_dir = self.session.run_dir / "traces"
        if not traces_dir.is_dir():
            return []
        # Only this process's traces: the ranks of a job share the directory.
        mine = f"{socket.gethostname()}_{os.getpid()}."
        return sorted(
            str(p.relative_to(self.session.run_dir))
            for p in traces_dir.glob("*.pt.trace.json*")
            if p.name.startswith(mine)
        )
