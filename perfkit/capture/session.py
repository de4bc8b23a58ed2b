"""The capture session: step boundaries, the per-step record, and the run file.

Probes report events here; the Session files them under the current step and writes
``run.json``. Everything on the per-step path (``begin_step``/``end_step`` and the
``on_*`` callbacks) is a handful of dict operations; expensive work (heap scans, the
profiler, the probe step, writing the file) is sampled on a budget.
"""

from __future__ import annotations

import atexit
import contextlib
import dataclasses
import os
import sys
import time
from collections.abc import Iterator
from typing import Any

import torch

from perfkit.capture import env, graphscan, guard, probe_step, probes, state
from perfkit.capture.boundaries import StepBoundaries
from perfkit.capture.callsite import LIBRARY, TORCH, caller, calling_frames, inside, site_key
from perfkit.capture.config import ConfigRecorder
from perfkit.capture.dataloader import LoaderInfo
from perfkit.capture.evalwatch import EvalWatch
from perfkit.capture.memory import MemoryReader
from perfkit.capture.probe_step import StepProbe, merge_records
from perfkit.capture.records import D2D, D2H, H2D, INTENT, Interval, SiteTable, StepRecord
from perfkit.capture.rundir import choose_run_dir, launched_rank
from perfkit.capture.sampler import Sampler
from perfkit.capture.window import ProfilerWindow, WindowSpec
from perfkit.capture.writer import RunWriter
from perfkit.runfile import run_file_name

# The steps watched closely (probe_step.py), when they are not in the profiler window. One
# step may be untypical (an evaluation or a sample generated at the first iteration), so a
# second one is taken later and the typical one (fewer ops) gives the op counts.
PROBE_STEPS = (1, 16)

# Heap scans (graphscan) may use this share of wall time ...
SCAN_BUDGET = 0.02
# ... and no more often than this, whatever the budget says.
MIN_SCAN_INTERVAL_S = 0.25
# Short runs still get scans at steps 2, 4, 8, ... while their total cost stays under this.
EARLY_SCAN_ALLOWANCE_S = 0.5
# ... and the first few of them (growth needs several) while they cost less than this.
MIN_EARLY_SCANS = 5
MIN_EARLY_SCANS_ALLOWANCE_S = 2.0


def _clear_in_child() -> None:
    state.session = None


_fork_hook_installed = False


def _forget_session_in_forked_children() -> None:
    """DataLoader workers and other forks must not record into (or write) the parent's run."""
    global _fork_hook_installed
    if not _fork_hook_installed and hasattr(os, "register_at_fork"):
        os.register_at_fork(after_in_child=_clear_in_child)
        _fork_hook_installed = True


class Session:
    """Capture a training run into ``run.json`` (and traces) in one run directory.

    ``out``: run directory (default ``perfkit-runs/<script>-<time>``; an existing run is
    never overwritten unless ``force``). ``window``: ``(wait, warmup, active[, repeat])``
    steps for the torch.profiler window, or None to disable. ``sample_hz``: background
    sampling rate (0 disables). ``graph_scan``/``probe_step``: the sampled leak scan and
    the one closely-watched step. ``auto_steps``: find step boundaries from optimizer
    steps, backward calls or DataLoader batches when no decorator marks them. ``quiet``:
    no "run saved" line at the end.
    """

    def __init__(
        self,
        out: str | os.PathLike[str] | None = None,
        *,
        window: Any = (5, 1, 3),
        sample_hz: float = 10.0,
        graph_scan: bool = True,
        probe_step: bool = True,
        auto_steps: bool = False,
        flush_interval_s: float = 2.0,
        force: bool = False,
        quiet: bool = False,
    ) -> None:
        self.window_spec = WindowSpec.parse(window)
        self.rank = launched_rank()
        self.run_file_name = run_file_name(self.rank)
        self.run_dir = choose_run_dir(out, force=force, file_name=self.run_file_name)
        self.sample_hz = float(sample_hz)
        self.graph_scan = graph_scan
        self.probe_step = probe_step
        self.auto_steps = auto_steps
        self.quiet = quiet
        self.accelerator = torch.cuda.is_available()
        self.sites = SiteTable()
        self.config = ConfigRecorder()
        self.eval_watch = EvalWatch()
        self.steps: list[StepRecord] = []
        self.graph_scans: list[dict[str, Any]] = []
        self.probe_record: dict[str, Any] = {}
        # DataLoaders that delivered batches during this session (an ordered set).
        self.loaders: dict[LoaderInfo, None] = {}
        self.dropped_steps = 0
        self.boundaries = StepBoundaries()
        # Lines where torch's own code read device data in a probe step (see _torch_read).
        self._torch_device_sites: set[tuple] = set()
        # When the first automatic step began (the first sign of training of any kind).
        self._first_start: float | None = None
        self.outside = Interval()
        # Lines that synced between two decorated steps -> in how many such gaps: what
        # recurs with the iterations, unlike set-up before the loop or evaluation after it.
        self.gap_sync_sites: dict[tuple, int] = {}
        self._acc = Interval()
        self._in_step = False
        self._nested = 0
        self._step_start = 0.0
        self._outside_s = 0.0
        self._cpu_marker: tuple | None = None
        self._probe: StepProbe | None = None
        # Steps still to probe, in order (see PROBE_STEPS).
        self._probe_queue: list[int] = list(PROBE_STEPS) if probe_step else []
        self._started = False
        self.closed = False
        self._pid = os.getpid()
        self._scan_total_s = 0.0
        self._last_scan_end = 0.0
        self._last_scan_cost = 0.0
        self.memory = MemoryReader()
        self.window = (
            ProfilerWindow(self.window_spec, str(self.run_dir / "traces"), self.accelerator)
            if self.window_spec
            else None
        )
        self.writer = RunWriter(self, flush_interval_s)
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
        self.t0 = time.perf_counter()
        self._last_end = self.t0
        self._last_scan_end = self.t0
        self.env = env.snapshot()
        try:
            self.run_dir.mkdir(parents=True, exist_ok=True)
        except OSError as e:  # the writer says so at its first write; training goes on
            guard.internal_error(f"creating {self.run_dir}", e)
        probes.acquire()
        state.session = self
        _forget_session_in_forked_children()
        self.sampler.start(self.t0)
        atexit.register(self.close)
        self.writer.flush(complete=False)
        return self

    def close(self, error: BaseException | None = None) -> None:
        """Finish the run: stop the profiler and sampler, write the final file."""
        if self.closed or not self._started:
            return
        self.closed = True
        atexit.unregister(self.close)
        if os.getpid() != self._pid:
            return  # a forked child (DataLoader worker) never writes the parent's run
        if state.session is self:
            state.session = None
        if self._in_step and self.source != "decorator":
            self._in_step = False  # the tail after the last boundary is not a whole step
        if not self._in_step:
            self.outside.merge_events(self._acc)
        # A probe still on covers no whole step (the tail after the last boundary).
        guard.call("ending the probe step", self._stop_probe, False)
        if self.window is not None:
            self.window.close()
        self.eval_watch.stop()
        self.sampler.stop()
        if self.graph_scan:
            guard.call("the heap scan", self._scan, True)
        probes.release()
        self.env["end_time"] = env.now_iso()
        if error is not None:
            self.env["error"] = f"{type(error).__name__}: {error}"
        self.writer.flush(complete=True)
        if not self.quiet:
            print(f"perfkit: run saved to {self.run_dir}", file=sys.stderr)

    def __enter__(self) -> Session:
        return self.start()

    def __exit__(self, exc_type, exc, tb) -> None:
        self.close(error=exc if isinstance(exc, Exception) else None)

    @contextlib.contextmanager
    def step(self) -> Iterator[None]:
        """Mark one training step: ``with session.step(): ...``."""
        self.begin_step()
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

    def begin_step(self) -> None:
        """Start of a decorated step. Nested decorated calls count as one step."""
        if self._in_step and self.source == "decorator":
            self._nested += 1
            return
        if self.source != "decorator":
            self.boundaries.on_signal("decorator", time.perf_counter())
            self._drop_automatic_steps()
        self._open_step(time.perf_counter())

    def end_step(self, error: BaseException | None = None) -> None:
        if self._nested:
            self._nested -= 1
            return
        if self._in_step:
            self._close_step(time.perf_counter(), error)

    def _open_step(self, now: float, start: float | None = None) -> None:
        """Open a step at ``now`` (or at ``start``, an earlier boundary being re-cut)."""
        if self._first_start is None:
            self._first_start = now if start is None else start
        gap = self._acc
        if gap.has_events():
            if self.steps and self.source == "decorator":  # a gap between two steps
                for key in {key for key, _ in gap.syncs}:
                    self.gap_sync_sites[key] = self.gap_sync_sites.get(key, 0) + 1
            self.outside.merge_events(gap)
            self._acc = Interval(gap.data_wait_s, gap.batches)
        # else: keep the interval; the wait for this step's batch is already in it.
        # Zero when boundaries are back to back (automatic steps).
        self._outside_s = max(0.0, now - self._last_end)
        self._in_step = True
        index = len(self.steps)
        if self.window is not None:
            self.window.before_step(index)
        if self._probe_queue and self._probe_due(index):
            self._start_probe(index)
        self._step_start = time.perf_counter() if start is None else start

    def _close_step(self, now: float, error: BaseException | None) -> None:
        """Record the step. The hot path: plain tuples here, dicts only when the file is written."""
        index = len(self.steps)
        probed = False
        if self._probe is not None:
            try:  # a probe that fails to stop must not take the step (and all after) with it
                probed = self._stop_probe()
            except Exception as e:
                guard.internal_error("ending the probe step", e)
        if probe_step.STRANDED:
            guard.call("releasing the probe's dispatch mode", probe_step.release_stranded)
        acc = self._acc
        if acc.has_events():
            self._acc = Interval()  # acc now belongs to the step record
        phase = "probe" if probed else self._window_phase(index)
        self.steps.append(
            StepRecord(
                self._step_start - self.t0,
                now - self._step_start,
                self._outside_s,
                acc.data_wait_s,
                acc.batches,
                self.memory.read(now),
                acc if acc is not self._acc else None,
                phase,
                type(error).__name__ if error is not None else None,
            )
        )
        if acc is self._acc:
            acc.data_wait_s = 0.0
            acc.batches = 0
        self._in_step = False
        if self.window is not None:
            self.window.after_step(index)
        if self.graph_scan and self._scan_due(index + 1, now) and not self.profiler_recording():
            guard.call("the heap scan", self._scan)
        if error is not None:
            self.writer.flush(complete=False)
        self._last_end = time.perf_counter()

    def profiler_recording(self) -> bool:
        """Whether the profiler window records now. Heap scans wait meanwhile: they would
        flood the user's trace with perfkit's own calls (and make stopping take seconds)."""
        return self.window is not None and self.window.recording

    def _window_phase(self, index: int) -> str:
        return self.window.phase(index) if self.window is not None else ""

    def _drop_automatic_steps(self) -> None:
        """The decorator took over: steps cut by weaker signals are dropped; what happened
        before the first decorated step belongs to no step."""
        if self.steps:
            self.dropped_steps += len(self.steps)
            self.steps = []  # a new list: the writer notices and starts over
        self._forget_captured()
        self.outside.merge_events(self._acc)
        self._acc = Interval()

    def _recut(self, now: float) -> None:
        """A first or stronger automatic signal appeared: everything so far was the first
        step. Its events and data wait are kept, in one step that began at the first sign of
        training and ends now; what was captured per step under the old source (the probe
        step, heap scans, the profiler window) no longer matches the steps and is redone.
        """
        if self.boundaries.changes:
            self.boundaries.changes[-1]["steps_recut"] = len(self.steps)
        first = Interval()
        for record in self.steps:
            if record.events is not None:
                first.merge_events(record.events)
            first.data_wait_s += record.data_wait_s
            first.batches += record.batches
        first.merge_events(self._acc)
        first.data_wait_s += self._acc.data_wait_s
        first.batches += self._acc.batches
        if self.steps:
            self.dropped_steps += len(self.steps)
            self.steps = []
        self._forget_captured()
        start = self._first_start
        self._acc = Interval()
        self._in_step = False
        if start is None and self.source == "batch":  # a batch starts the first step
            self._acc = first
            self._open_step(now)
            return
        if start is None:
            # The first sign of training ends the first step (backward, optimizer step):
            # its start is unknown, so it runs from the session's start, the script's
            # set-up included. The first step never counts for timing.
            start = self.t0
        self._open_step(start, start=start)
        self._acc = first
        self._close_step(now, None)
        self._open_step(now)

    def _forget_captured(self) -> None:
        self._in_step = False
        self._stop_probe(keep=False)
        self.probe_record = {}
        self._probe_queue = list(PROBE_STEPS) if self.probe_step else []
        self.graph_scans = []
        self._scan_total_s = 0.0
        if self.window is not None:
            self.window.restart()

    def _auto_boundary(self, source: str, at: float | None = None, key: int | None = None) -> None:
        """An automatic boundary signal: re-cut on a stronger source, else cut where it says."""
        if not self.auto_steps:
            return
        now = time.perf_counter() if at is None else at
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

    def _probe_due(self, index: int) -> bool:
        queue = self._probe_queue
        return (
            self._probe is None
            and bool(queue)
            and index >= queue[0]
            and not self._window_phase(index)
        )

    def _start_probe(self, index: int) -> None:
        while self._probe_queue and self._probe_queue[0] <= index:
            self._probe_queue.pop(0)
        self._probe = StepProbe(index).__enter__()

    def _stop_probe(self, keep: bool = True) -> bool:
        """End the probe; ``keep`` its record only when it covered a whole step."""
        probe, self._probe = self._probe, None
        if probe is None:
            return False
        probe.__exit__(None, None, None)
        if keep:
            self.probe_record = merge_records(self.probe_record, probe.record(self.sites))
        return keep

    def _scan_due(self, steps_done: int, now: float) -> bool:
        since = now - self._last_scan_end
        if since >= max(MIN_SCAN_INTERVAL_S, self._last_scan_cost / SCAN_BUDGET):
            return True
        early = steps_done >= 2 and steps_done & (steps_done - 1) == 0
        # Growth is judged from several scans: a slow or loaded machine still gets a few.
        enough = len(self.graph_scans) >= MIN_EARLY_SCANS
        allowance = EARLY_SCAN_ALLOWANCE_S if enough else MIN_EARLY_SCANS_ALLOWANCE_S
        return early and self._scan_total_s < allowance

    def _scan(self, final: bool = False) -> None:
        t0 = time.perf_counter()
        previous = self.graph_scans[-1]["largest_graph_nodes"] if self.graph_scans else None
        record = graphscan.scan(len(self.steps), previous)
        if final:
            record["final"] = True  # after the loop: the training's locals may be gone
        self._last_scan_end = time.perf_counter()
        self._last_scan_cost = self._last_scan_end - t0
        self._scan_total_s += self._last_scan_cost
        self.graph_scans.append(record)

    # -- events from probes ----------------------------------------------------------

    def on_tensor_sync(self, tensor: torch.Tensor, kind: str) -> None:
        on_cpu = tensor.device.type == "cpu"
        if on_cpu and self.accelerator:
            return  # a CPU tensor on a machine with a GPU: nothing to wait for
        if on_cpu and state.fetching:
            return  # data preparation in __getitem__ works on host tensors, GPU run or not
        who, first, frame = calling_frames()
        if who in (TORCH, LIBRARY):
            # Read inside torch or a library (LBFGS's line search, a metrics package): the
            # user's line is where it is counted, the kind says where it really happens.
            kind = f"{kind} in {inside(first.f_code)}"
        if on_cpu:
            if who == TORCH:
                self._torch_read(tensor, site_key(frame), kind)
                return
            marker, self._cpu_marker = self._cpu_marker, None
            if marker == (id(tensor), frame, frame.f_lineno if frame else 0):
                return  # x.cpu().item(): the .cpu() was already counted as the sync
        key = site_key(frame)
        if on_cpu and self._probe is not None:
            self._probe.on_scalar_read(tensor, key)  # host data or would-be device data?
        self._acc.add_sync(key, kind)

    def _torch_read(self, tensor: torch.Tensor, key: tuple, kind: str) -> None:
        """A scalar read inside torch on a CPU-only run. Mostly torch reading its own host
        scalars (an optimizer's step count), which never syncs; but LBFGS reads the loss,
        which would. The probe step tells them apart by where the tensor came from, and
        the lines it saw reading device data are counted from then on."""
        if self._probe is not None:
            if not self._probe.seen_on_device(tensor):
                return  # its own state, made before the probe: no evidence it is device data
            self._torch_device_sites.add(key)
        elif key not in self._torch_device_sites:
            return
        self._acc.add_sync(key, kind)

    def on_explicit_sync(self, kind: str) -> None:
        self._acc.add_sync(site_key(caller()[1]), kind)

    def on_transfer(
        self, src: torch.Tensor, out: torch.Tensor, non_blocking: bool, method: str
    ) -> None:
        sdev, ddev = src.device, out.device
        if sdev == ddev:
            if self.accelerator or state.fetching:
                return  # a cast, a no-op, or data preparation on the host
            who, frame = caller()
            if who == TORCH:
                return
            if method == "cpu":
                # CPU-only machine: .cpu() is where a GPU run would wait for the device.
                key = site_key(frame)
                if self._probe is not None:
                    self._probe.on_scalar_read(src, key)
                self._acc.add_sync(key, "cpu")
                self._cpu_marker = (id(out), frame, frame.f_lineno if frame else 0)
                return
            if self._probe is not None:
                self._probe.mark_device_data(out)  # where a GPU run would keep its data
            nbytes = src.nelement() * src.element_size()
            self._acc.add_transfer(site_key(frame), INTENT, nbytes, False, non_blocking)
            return
        key = site_key(caller()[1])
        nbytes = src.nelement() * src.element_size()
        if sdev.type == "cpu":
            self._acc.add_transfer(key, H2D, nbytes, src.is_pinned(), non_blocking)
        elif ddev.type == "cpu":
            self._acc.add_transfer(key, D2H, nbytes, out.is_pinned(), non_blocking)
            if not non_blocking:
                self._acc.add_sync(key, "cpu")
        else:
            self._acc.add_transfer(key, D2D, nbytes, False, non_blocking)

    def on_batch_start(self, t0: float) -> None:
        self._auto_boundary("batch", t0)

    def on_batch_end(self, t0: float, t1: float, got_batch: bool) -> None:
        self._acc.data_wait_s += t1 - t0
        self._acc.batches += got_batch

    def on_backward(self) -> None:
        if self._probe is not None:
            self._probe.backward_calls += 1
        self._auto_boundary("backward")

    def on_optimizer_step(self, optimizer: torch.optim.Optimizer) -> None:
        if self._probe is not None:
            self._probe.optimizer_done()
        self.config.on_optimizer_step(optimizer)
        self._auto_boundary("optimizer", key=id(optimizer))

    def on_zero_grad(self, set_to_none: bool) -> None:
        self.config.on_zero_grad(set_to_none, None if set_to_none else site_key(caller()[1]))

    def on_autocast(self, device: str, dtype: str, enabled: bool) -> None:
        self.config.on_autocast(device, dtype, enabled)

    def on_grad_scaler(self, enabled: bool) -> None:
        self.config.on_grad_scaler(enabled)

    def on_empty_cache(self) -> None:
        self._acc.add_empty_cache(site_key(caller()[1]))

    # -- the run file ----------------------------------------------------------------

    def capture_info(self) -> dict[str, Any]:
        return {
            "step_source": self.source,
            "step_boundaries": self.boundaries.to_json(),
            "dropped_steps": self.dropped_steps,
            "accelerator": self.accelerator,
            "sync_semantics": "device" if self.accelerator else "would-sync (CPU-only run)",
            "window": list(dataclasses.astuple(self.window_spec)) if self.window_spec else None,
            "window_error": self.window.error if self.window is not None else "",
            "sample_hz": self.sample_hz,
            "graph_scan": self.graph_scan,
            "probe_step": self.probe_step,
            "errors": list(guard.errors),
            "tensorboard_scalars": dict(self.writer.scalars.status),
        }
