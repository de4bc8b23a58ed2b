"""The capture session: its lifecycle and the steps, cut where the boundaries say.

The parts it coordinates each do one thing: ``StepBoundaries`` (boundaries.py) decides
where steps begin and end from the signals seen; ``EventRecorder`` (recorder.py) files the
probes' events into the open interval; ``SampledWork`` (scheduler.py) runs the expensive,
budgeted work (probe steps, heap scans, the profiler window); ``RunWriter`` (writer.py)
writes a snapshot of it all. The per-step path (``begin_step``/``end_step``) is a handful
of dict operations. Time comes from ``clock`` (``time.perf_counter``; tests pass a fake).
"""

from __future__ import annotations

import atexit
import contextlib
import dataclasses
import functools
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import torch

from perfkit.capture import env, guard, probes, state
from perfkit.capture.boundaries import StepBoundaries
from perfkit.capture.callsite import caller, site_key
from perfkit.capture.config import ConfigRecorder
from perfkit.capture.dataloader import LoaderInfo
from perfkit.capture.evalwatch import EvalWatch
from perfkit.capture.memory import MemoryReader
from perfkit.capture.recorder import EventRecorder
from perfkit.capture.records import Interval, SiteTable, StepRecord
from perfkit.capture.rundir import claim_run_dir, default_run_dir, launched_rank, shown
from perfkit.capture.sampler import Sampler
from perfkit.capture.scheduler import SampledWork
from perfkit.capture.signals import StopSignals
from perfkit.capture.steplog import StepLog
from perfkit.capture.summary import forget_summary, summaries_on, write_rank_summary
from perfkit.capture.window import ProfilerWindow, WindowSpec
from perfkit.capture.window_ranks import WindowRanks, local_rank, world_size
from perfkit.capture.writer import RunWriter
from perfkit.escape import terminal_line
from perfkit.runfile import run_file_name


def _clear_in_child() -> None:
    state.session = None


_fork_hook_installed = False


def _forget_session_in_forked_children() -> None:
    """DataLoader workers and other forks must not record into (or write) the parent's run."""
    global _fork_hook_installed
    if not _fork_hook_installed and hasattr(os, "register_at_fork"):
        os.register_at_fork(after_in_child=_clear_in_child)
        _fork_hook_installed = True


# StepRecord(...) without the NamedTuple's Python-level __new__ (a frame per step)
_new_record = functools.partial(tuple.__new__, StepRecord)


class Session:
    """Capture a training run into ``run.json`` (and traces) in one run directory.

    ``out``: run directory (default ``perfkit-runs/<script>-<time>``; an existing run is
    never overwritten unless ``force``). ``window``: ``(wait, warmup, active[, repeat])``
    steps for the torch.profiler window, or None to disable. ``sample_hz``: background
    sampling rate (0 disables). ``window_ranks``: in a job of several ranks, which record the
    window: ``"auto"`` (rank 0, each node's local rank 0, a few sampled), ``"all"``, or a
    list of ranks (window_ranks.py). ``rank_summary``: a rank of a job writes its summary at
    close (ranksummary.py; also off with PERFKIT_RANK_SUMMARY=0). ``graph_scan``/
    ``probe_step``: the sampled leak scan and the one closely-watched step. ``auto_steps``:
    find step boundaries from optimizer steps, backward calls or DataLoader batches when no
    decorator marks them. ``quiet``: no "run saved" line at the end. ``clock``: seconds,
    monotonic (a fake one in tests).
    """

    def __init__(
        self,
        out: str | os.PathLike[str] | None = None,
        *,
        window: Any = (5, 1, 3),
        window_ranks: Any = "auto",
        sample_hz: float = 10.0,
        graph_scan: bool = True,
        probe_step: bool = True,
        auto_steps: bool = False,
        flush_interval_s: float = 2.0,
        force: bool = False,
        quiet: bool = False,
        rank_summary: bool = True,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        self.clock = clock
        self.window_spec = WindowSpec.parse(window)
        self.rank = launched_rank()
        self.run_file_name = run_file_name(self.rank)
        self.window_ranks = WindowRanks.parse(window_ranks)
        # Why this rank records no window when one is asked for ("" when it records one)
        self.window_off = ""
        if self.rank is not None and self.window_spec is not None:
            self.window_off = self.window_ranks.why_not(self.rank, local_rank(), world_size())
        self.rank_summary = rank_summary
        # Absolute now: the script may change directory before the first write.
        self.run_dir = Path(out if out is not None else default_run_dir()).absolute()
        self.force = force
        self.shown_dir = shown(self.run_dir)
        self.sample_hz = float(sample_hz)
        self.graph_scan = graph_scan
        self.probe_step = probe_step
        self.auto_steps = auto_steps
        self.quiet = quiet
        self.accelerator = torch.cuda.is_available()
        self.sites = SiteTable()
        self.config = ConfigRecorder()
        self.eval_watch = EvalWatch()
        self.steps = StepLog()
        self.step_count = 0  # steps recorded in ``steps``: the next step's index
        # DataLoaders that delivered batches during this session (in order), and how many
        # of its steps each gave batches to: the training loop's loaders, told apart from
        # an evaluation loader iterated between steps.
        self.loaders: dict[LoaderInfo, int] = {}
        self.fetched_from: set[LoaderInfo] = set()  # since the last step closed
        self.dropped_steps = 0
        self.boundaries = StepBoundaries()
        self.window = (
            ProfilerWindow(self.window_spec, str(self.run_dir), self.accelerator)
            if self.window_spec and not self.window_off
            else None
        )
        self.work = SampledWork(
            probe_step=probe_step,
            graph_scan=graph_scan,
            window=self.window,
            sites=self.sites,
            peer_window=self.window_spec if self.window_off else None,
            clock=clock,
        )
        self.recorder = EventRecorder(self.accelerator, lambda: self.work.probe)
        # When the first automatic step began (the first sign of training of any kind).
        self._first_start: float | None = None
        self._in_step = False
        self._nested = 0
        # The thread whose calls mark steps (see begin_step), and whether others were told.
        self._step_thread: int | None = None
        self._told_other_threads = False
        self._step_start = 0.0
        self.step_marker = ""  # what marks decorated steps: @profile_step, Session.step() ...
        self._outside_s = 0.0
        self._started = False
        self.closed = False
        self._pid = os.getpid()
        self.memory = MemoryReader()
        self.stop_signals = StopSignals(self._stopped_by)
        self.writer = RunWriter(self, flush_interval_s)
        if self.window is not None:
            self.window.writes = self.writer.lock
        self.sampler = Sampler(
            self.sample_hz, env.nvml_index(env.accelerator_index()), self.writer.maybe_flush
        )

    # -- lifecycle -------------------------------------------------------------------

    def start(self) -> Session:
        if self._started:
            return self
        if state.session is not None:
            raise RuntimeError("another perfkit session is already active in this process")
        self._started = True
        self.t0 = self.clock()
        self._last_end = self.t0
        guard.reset()  # a run lists its own failures, not an earlier session's
        self.work.start(self.t0)
        self.env = env.snapshot()
        self.use_run_dir(
            claim_run_dir(self.run_dir, force=self.force, file_name=self.run_file_name)
        )
        if self.rank is not None:  # a run replaced with --force: its summary is not ours
            forget_summary(self.run_dir / self.run_file_name)
        probes.acquire()
        state.session = self
        _forget_session_in_forked_children()
        self.sampler.start(self.t0)
        atexit.register(self.close)
        self.stop_signals.install()
        self.writer.flush(complete=False)
        return self

    def close(self, error: BaseException | None = None) -> None:
        """Finish the run: stop the profiler and sampler, write the final file."""
        if self.closed or not self._started:
            return
        self.closed = True
        atexit.unregister(self.close)
        self.stop_signals.uninstall()
        if os.getpid() != self._pid:
            return  # a forked child (DataLoader worker) never writes the parent's run
        if state.session is self:
            state.session = None
        if self._in_step and self.source != "decorator":
            self._in_step = False  # the tail after the last boundary is not a whole step
        if not self._in_step:
            self.recorder.to_outside()
        self.work.close()
        self.eval_watch.stop()
        self.sampler.stop()
        self.work.final_scan(self.step_count)
        probes.release()
        self.env["end_time"] = env.now_iso()
        if error is not None:
            self.env["error"] = f"{type(error).__name__}: {error}"
        self.writer.flush(complete=True)
        self.writer.drop_claim()
        if self._summarizes():
            write_rank_summary(self.writer.path, quiet=self.quiet)
        if not self.quiet:
            print(terminal_line(f"perfkit: run saved to {self.shown_dir}"), file=sys.stderr)

    def _summarizes(self) -> bool:
        """Whether this process writes a rank summary now: a rank of a job whose run file
        was written, not stopped by a signal (its time is short), and not told not to."""
        return (
            self.rank is not None
            and summaries_on(self.rank_summary)
            and self.writer.wrote
            and not self.writer.failure
            and not self.env.get("interrupted")
        )

    def use_run_dir(self, run_dir: Path) -> None:
        """Write this run to ``run_dir`` (the one claimed at start)."""
        self.run_dir, self.shown_dir = run_dir, shown(run_dir)
        if self.window is not None:
            self.window.traces_dir = str(run_dir)
        self.writer.use_run_dir(run_dir)

    def _stopped_by(self, signal_name: str) -> None:
        """SIGTERM or SIGHUP: save the run as it stands, marked as stopped by it."""
        self.env["interrupted"] = signal_name
        self.close()

    def __enter__(self) -> Session:
        return self.start()

    def __exit__(self, exc_type, exc, tb) -> None:
        self.close(error=exc if isinstance(exc, Exception) else None)

    @contextlib.contextmanager
    def step(self) -> Iterator[None]:
        """Mark one training step: ``with session.step(): ...``."""
        self.begin_step("Session.step()")
        try:
            yield
        except BaseException as e:
            self.end_step(error=e)
            raise
        self.end_step()

    # -- step boundaries -------------------------------------------------------------

    @property
    def source(self) -> str | None:
        """What cuts steps: decorator, optimizer, backward or batch (see boundaries.py)."""
        return self.boundaries.source

    def begin_step(self, marker: str = "@profile_step") -> None:
        """Start of a decorated step (``marker``: what marks it, for the report). Nested
        decorated calls count as one step. A session
        not started yet starts here. Steps come from one thread, the first to mark one: a
        step is the training loop's iteration, and the probe step's hooks are per thread.
        Calls from other threads run unrecorded (said once on stderr)."""
        if not self._started:
            self.start()
        if threading.get_ident() != self._step_thread and not self._owns_steps():
            return
        decorated = self.boundaries.source == "decorator"
        if self._in_step and decorated:
            self._nested += 1
            return
        if not decorated:
            self.boundaries.on_signal("decorator", self.clock())
            self._drop_automatic_steps()
        self.step_marker = marker
        self._open_step(self.clock())

    def end_step(self, error: BaseException | None = None) -> None:
        if threading.get_ident() != self._step_thread:
            return
        if self._nested:
            self._nested -= 1
            return
        if self._in_step:
            self._close_step(self.clock(), error)

    def _owns_steps(self) -> bool:
        """Whether this thread records steps: the first thread to mark one does."""
        me = threading.get_ident()
        if self._step_thread is None:
            self._step_thread = me
        if me == self._step_thread:
            return True
        if not self._told_other_threads:
            self._told_other_threads = True
            print(
                f"perfkit: steps are recorded from one thread ({self._step_thread}); "
                f"calls from thread {me} run unrecorded",
                file=sys.stderr,
            )
        return False

    def _open_step(self, now: float, start: float | None = None) -> None:
        """Open a step at ``now`` (or at ``start``, an earlier boundary being re-cut)."""
        if self._first_start is None:
            self._first_start = now if start is None else start
        self.recorder.end_gap(self.step_count > 0 and self.boundaries.source == "decorator")
        # Zero when boundaries are back to back (automatic steps).
        self._outside_s = now - self._last_end if now > self._last_end else 0.0
        self._in_step = True
        self.work.before_step(self.step_count)
        self._step_start = self.clock() if start is None else start

    def _close_step(self, now: float, error: BaseException | None) -> None:
        """Record the step. The hot path: plain tuples here, dicts only when the file is written."""
        index = self.step_count
        probed = self.work.finish_probe()
        data_wait_s, batches, events = self.recorder.take()
        self.steps.append(
            _new_record(
                (
                    self._step_start - self.t0,
                    now - self._step_start,
                    self._outside_s,
                    data_wait_s,
                    batches,
                    self.memory.read(now),
                    events,
                    "probe" if probed else self.work.phase(index),
                    type(error).__name__ if error is not None else None,
                )
            )
        )
        self.step_count = index + 1
        if self.fetched_from:  # the loaders this step's batches came from
            for info in self.fetched_from:
                self.loaders[info] += 1
            self.fetched_from.clear()
        self.steps.maybe_fold()
        self._in_step = False
        self.work.after_step(index, now)
        if error is not None:
            self.writer.flush(complete=False)
        self._last_end = self.clock()

    def profiler_recording(self) -> bool:
        """Whether the profiler window records now (the writer waits meanwhile)."""
        return self.work.recording()

    def _drop_automatic_steps(self) -> None:
        """The decorator took over: steps cut by weaker signals are dropped; what happened
        before the first decorated step belongs to no step."""
        if self.step_count:
            self._new_step_log()
        self._forget_captured()
        self.recorder.to_outside()

    def _new_step_log(self) -> None:
        """Steps so far are dropped or re-cut: a new log, which the writer notices."""
        self.dropped_steps += self.step_count
        self.steps, self.step_count = StepLog(), 0

    def _recut(self, now: float) -> None:
        """A first or stronger automatic signal appeared: everything so far was the first
        step. Its events and data wait are kept, in one step that began at the first sign of
        training and ends now; what was captured per step under the old source (the probe
        step, heap scans, the profiler window) no longer matches the steps and is redone.
        """
        if self.boundaries.changes:
            self.boundaries.changes[-1]["steps_recut"] = self.step_count
        first = Interval()
        acc = self.recorder.acc
        folded_events, first.data_wait_s, first.batches = self.steps.merged_blocks()
        first.merge_events(folded_events)
        for record in self.steps.records():
            if record.events is not None:
                first.merge_events(record.events)
            first.data_wait_s += record.data_wait_s
            first.batches += record.batches
        first.merge_events(acc)
        first.data_wait_s += acc.data_wait_s
        first.batches += acc.batches
        if self.step_count:
            self._new_step_log()
        self._forget_captured()
        start = self._first_start
        self.recorder.acc = Interval()
        self._in_step = False
        if start is None and self.source == "batch":  # a batch starts the first step
            self.recorder.acc = first
            self._open_step(now)
            return
        if start is None:
            # The first sign of training ends the first step (backward, optimizer step):
            # its start is unknown, so it runs from the session's start, the script's
            # set-up included. The first step never counts for timing.
            start = self.t0
        self._open_step(start, start=start)
        self.recorder.acc = first
        self._close_step(now, None)
        self._open_step(now)

    def _forget_captured(self) -> None:
        self._in_step = False
        self.work.forget()

    def _auto_boundary(self, source: str, at: float | None = None, key: int | None = None) -> None:
        """An automatic boundary signal (with ``auto_steps`` on): re-cut on a stronger source,
        else cut where it says."""
        now = self.clock() if at is None else at
        cuts = self.boundaries.on_signal(source, now, key)
        if cuts is None:
            self._recut(now)
            return
        for i, t in enumerate(cuts):
            if self._in_step:
                self._close_step(t, None)
            # An earlier boundary re-cut starts where it was; the current one starts after
            # perfkit's own work at the boundary (a heap scan), as decorated steps do.
            self._open_step(t, start=t if i < len(cuts) - 1 else None)

    # -- events from probes ----------------------------------------------------------

    def on_batch_start(self, t0: float) -> None:
        if self.auto_steps:
            self._auto_boundary("batch", t0)

    def on_backward(self) -> None:
        probe = self.work.probe
        if probe is not None:
            probe.backward_calls += 1
        if self.auto_steps:
            self._auto_boundary("backward")

    def on_optimizer_step(self, optimizer: torch.optim.Optimizer) -> None:
        probe = self.work.probe
        if probe is not None:
            probe.optimizer_done()
        self.config.on_optimizer_step(optimizer)
        if self.auto_steps:
            self._auto_boundary("optimizer", key=id(optimizer))

    def on_zero_grad(self, set_to_none: bool) -> None:
        self.config.on_zero_grad(set_to_none, None if set_to_none else site_key(caller()[1]))

    # -- the run file ----------------------------------------------------------------

    def capture_info(self) -> dict[str, Any]:
        return {
            "step_source": self.source,
            "step_marker": self.step_marker if self.source == "decorator" else "",
            "step_boundaries": self.boundaries.to_json(),
            "dropped_steps": self.dropped_steps,
            "accelerator": self.accelerator,
            "sync_semantics": "device" if self.accelerator else "would-sync (CPU-only run)",
            "window": list(dataclasses.astuple(self.window_spec)) if self.window_spec else None,
            "window_error": self.window.error if self.window is not None else "",
            "window_ranks": str(self.window_ranks) if self.rank is not None else "",
            "window_off": self.window_off,
            "sample_hz": self.sample_hz,
            "graph_scan": self.graph_scan,
            "probe_step": self.probe_step,
            "errors": list(guard.errors),
            "tensorboard_scalars": dict(self.writer.scalars.status),
        }
