"""Assemble the run file from a Session and write it, atomically and on a budget.

The periodic flush runs on the sampler thread, so the file stays fresh while training
runs; its interval stretches if writing gets expensive (a long run), keeping the cost
its CPU under ``FLUSH_BUDGET`` of wall time. A write that fails (disk full, read-only directory)
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
from typing import TYPE_CHECKING, Any, NamedTuple, TypeVar

from perfkit.capture import env, guard
from perfkit.capture.memory import MemoryReader
from perfkit.capture.records import StepRecord, interval_events, site_counts, step_record
from perfkit.capture.scalars import ScalarWriter
from perfkit.capture.steplog import StepLog, block_record
from perfkit.escape import terminal_line
from perfkit.runfile import json_bytes, write_bytes_atomic
from perfkit.runmodel import (
    Capture,
    Env,
    FormatError,
    HeapScan,
    OutsideSteps,
    Probe,
    Run,
    Step,
    StepBlock,
    decode,
    to_json,
)

if TYPE_CHECKING:
    from perfkit.capture.session import Session

T = TypeVar("T")

FLUSH_BUDGET = 0.02
# Snapshotting reads dicts the training thread may be growing; retry a few times.
SNAPSHOT_TRIES = 5
STEP_KEYS = ("steps", "step_blocks")


class RunWriter:
    def __init__(self, session: Session, interval_s: float) -> None:
        self.session = session
        self.interval_s = interval_s
        # Re-entrant: a stop signal may save the run while this thread is writing it.
        self.lock = threading.RLock()
        self._last = 0.0
        self._cost = 0.0
        self._warned = False
        # Why the last write failed ("" once one succeeds), and whether any ever did.
        self.failure = ""
        self.wrote = False
        # Steps and blocks serialized once and reused by every flush, for the session's
        # current step log: index -> its JSON; a block's first index -> (its count then,
        # its record, its JSON).
        self._steps: dict[int, bytes] = {}
        self._blocks: dict[int, tuple[int, StepBlock, bytes]] = {}
        self._steps_of: StepLog | None = None
        self.scalars = ScalarWriter(session.run_dir, session.rank)

    @property
    def path(self) -> Path:
        return self.session.run_dir / self.session.run_file_name

    def use_run_dir(self, run_dir: Path) -> None:
        """The session claimed its directory; nothing was written before."""
        self.scalars.use_run_dir(run_dir)

    def _convert(self) -> Converted:
        """The steps kept whole and the blocks, each serialized once (a block again when it
        grew; all of them again after a re-cut). Only the JSON text of a step is kept: a
        few hundred bytes, where its dicts would take kilobytes."""
        s = self.session
        log = s.steps  # once: a re-cut may swap the log meanwhile
        if self._steps_of is not log:
            self._steps_of, self._steps, self._blocks = log, {}, {}
        kept, blocks = log.snapshot()
        steps = []
        for index, r in kept:
            done = self._steps.get(index)
            if done is None:
                done = self._steps[index] = json_bytes(to_json(self._step(index, r)))
            steps.append(done)
        if len(self._steps) > len(steps):  # steps folded since: forget them
            held = {index for index, _ in kept}
            self._steps = {i: v for i, v in self._steps.items() if i in held}
        records = []
        with log.locked:  # the training thread may fold into the last block meanwhile
            for acc in blocks:
                done_block = self._blocks.get(acc.first)
                if done_block is None or done_block[0] != acc.count:
                    block = block_record(acc, s.sites)
                    text = json_bytes(to_json(block))
                    done_block = self._blocks[acc.first] = (acc.count, block, text)
                records.append(done_block[1:])
        if len(self._blocks) > len(records):  # blocks merged since
            held = {block.first for block, _ in records}
            self._blocks = {i: v for i, v in self._blocks.items() if i in held}
        return Converted(kept, steps, records)

    def _step(self, index: int, r: StepRecord) -> Step:
        return step_record(index, r, MemoryReader.record(r.memory), self.session.sites)

    def maybe_flush(self) -> None:
        """Called from the sampler thread at every tick; never while the profiler records,
        since its Python tracer would record the write too (and TensorBoard's imports)."""
        with self.lock:  # the window starts under it: checked here, it stays off meanwhile
            if self.session.profiler_recording():
                return
            if self.scalars.unopened:
                # TensorBoard's writer is imported on the first tick, off the training
                # thread: the memory it takes is taken at the start, and its import never
                # lands in a trace (the profiler's Python tracer records every thread).
                guard.call("the TensorBoard scalars", self.scalars.open)
            self.session.steps.fold()
        now = time.perf_counter()
        if now - self._last >= max(self.interval_s, self._cost / FLUSH_BUDGET):
            self.flush(complete=False)

    def flush(self, complete: bool) -> None:
        s = self.session
        if s.closed and not complete:
            return
        with self.lock:
            if not complete and s.profiler_recording():
                return  # the window started meanwhile (it waits for a write in progress)
            cpu = time.thread_time()
            s.steps.fold()  # the window is closed by the final write
            guard.call("the TensorBoard scalars", self._write_scalars, complete)
            guard.call("writing the run file", self._write_run_file, complete)
            self._last = time.perf_counter()
            # The CPU the write took, not its wall time: waiting for the GIL while the
            # loop runs costs the loop nothing, and would space writes minutes apart.
            self._cost = time.thread_time() - cpu

    def _write_run_file(self, complete: bool) -> None:
        for attempt in range(SNAPSHOT_TRIES):
            try:
                converted = self._convert()
                data = to_json(self.snapshot(complete))
                break
            # "dictionary changed size during iteration"; or a SystemError from building a
            # tuple while a heap scan on the training thread holds it (gc.get_objects).
            except (RuntimeError, SystemError):
                if attempt == SNAPSHOT_TRIES - 1:
                    raise
        try:
            # The steps and blocks, serialized once each, spliced into the rest.
            head = json_bytes({k: v for k, v in data.items() if k not in STEP_KEYS})
            steps = b",".join(converted.steps)
            blocks = b",".join(text for _, text in converted.blocks)
            text = head[:-1] + b',"steps":[' + steps + b'],"step_blocks":[' + blocks + b"]}"
            write_bytes_atomic(self.path, text)
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
        converted = self._convert()
        new = [self._step(i, r) for i, r in converted.kept if self.scalars.wants(i, complete)]
        self.scalars.write(new, [block for block, _ in converted.blocks], complete)
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
            config=s.config.record(
                sites, tuple(info.record(sites, fed) for info, fed in list(s.loaders.items()))
            ),
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


class Converted(NamedTuple):
    kept: list[tuple[int, StepRecord]]  # the steps kept whole, in order
    steps: list[bytes]  # their JSON
    blocks: list[tuple[StepBlock, bytes]]


def _record(cls: type[T], data: dict[str, Any], where: str) -> T | None:
    """A capture record in its run-file type. One whose shape is wrong (a bug, or a library
    setting of an odd type) is reported and left out: it must not cost the run file."""
    try:
        return decode(cls, data, where)
    except FormatError as e:
        guard.internal_error(f"recording {where}", e)
        return None
