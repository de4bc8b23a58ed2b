"""The expensive parts of capture, sampled on a budget: the probe steps, the heap scans and
the profiler window. The Session tells it when steps open and close; it decides what runs.

Heap scans walk the whole heap (tens to hundreds of ms): they run at steps 2, 4, 8, ...
while their total stays within an allowance (short runs still get several), then when
they fit in ``SCAN_BUDGET`` of wall time; never while the profiler records.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from perfkit.capture import graphscan, guard, probe_step
from perfkit.capture.probe_step import StepProbe, merge_records
from perfkit.capture.records import SiteTable
from perfkit.capture.window import ProfilerWindow, WindowSpec

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


class SampledWork:
    def __init__(
        self,
        *,
        probe_step: bool,
        graph_scan: bool,
        window: ProfilerWindow | None,
        sites: SiteTable,
        peer_window: WindowSpec | None = None,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        self.probe_step = probe_step
        self.graph_scan = graph_scan
        self.window = window
        # The window that other ranks of the job record while this one does not
        self.peer_window = peer_window
        self.sites = sites
        self.clock = clock
        self.probe: StepProbe | None = None  # the probe step running now
        self.probe_record: dict[str, Any] = {}
        self.graph_scans: list[dict[str, Any]] = []
        # Steps still to probe, in order (see PROBE_STEPS).
        self._probe_queue: list[int] = list(PROBE_STEPS) if probe_step else []
        self._scan_total_s = 0.0
        # When a scan is next due by time (the step count may make one due earlier)
        self._scan_deadline = 0.0

    def start(self, t0: float) -> None:
        self._scan_deadline = t0 + MIN_SCAN_INTERVAL_S

    def recording(self) -> bool:
        """Whether the profiler window records now. Heap scans wait meanwhile: they would
        flood the user's trace with perfkit's own calls (and make stopping take seconds)."""
        return self.window is not None and self.window.recording

    def phase(self, index: int) -> str:
        """The step's measurement phase: "warmup" or "active" in the profiler window; "peer"
        in the window other ranks record (in lockstep, this rank waits for them)."""
        if self.window is not None:
            return self.window.phase(index)
        return "peer" if self.peer_window is not None and self.peer_window.phase(index) else ""

    # -- around a step -------------------------------------------------------------------

    def before_step(self, index: int) -> None:
        if self.window is not None:
            self.window.before_step(index)
        if self._probe_queue and self._probe_due(index):
            self._start_probe(index)

    def finish_probe(self) -> bool:
        """End a probe step with its step; True when it watched the whole step."""
        probed = False
        if self.probe is not None:
            try:  # a probe that fails to stop must not take the step (and all after) with it
                probed = self.stop_probe()
            except Exception as e:
                guard.internal_error("ending the probe step", e)
        if probe_step.STRANDED:
            guard.call("releasing the probe's dispatch mode", probe_step.release_stranded)
        return probed

    def after_step(self, index: int, now: float) -> None:
        if self.window is not None:
            self.window.after_step(index)
        steps_done = index + 1
        # The hot path: most steps are before the deadline and not a power of two.
        if not self.graph_scan or (now < self._scan_deadline and steps_done & index):
            return
        if self._scan_due(steps_done, now) and not self.recording():
            guard.call("the heap scan", self.scan, steps_done)

    def forget(self) -> None:
        """Steps were re-cut: what was sampled per step no longer matches them; redo it."""
        self.stop_probe(keep=False)
        self.probe_record = {}
        self._probe_queue = list(PROBE_STEPS) if self.probe_step else []
        self.graph_scans = []
        self._scan_total_s = 0.0
        if self.window is not None:
            self.window.restart()

    def close(self) -> None:
        # A probe still on covers no whole step (the tail after the last boundary).
        guard.call("ending the probe step", self.stop_probe, False)
        if self.window is not None:
            self.window.close()

    def final_scan(self, steps_done: int) -> None:
        """A last heap scan after the loop (its locals may be gone: marked final)."""
        if self.graph_scan:
            guard.call("the heap scan", self.scan, steps_done, True)

    # -- the probe step ------------------------------------------------------------------

    def _probe_due(self, index: int) -> bool:
        queue = self._probe_queue
        return self.probe is None and bool(queue) and index >= queue[0] and not self.phase(index)

    def _start_probe(self, index: int) -> None:
        while self._probe_queue and self._probe_queue[0] <= index:
            self._probe_queue.pop(0)
        self.probe = StepProbe(index).__enter__()

    def stop_probe(self, keep: bool = True) -> bool:
        """End the probe; ``keep`` its record only when it covered a whole step."""
        probe, self.probe = self.probe, None
        if probe is None:
            return False
        probe.__exit__(None, None, None)
        if keep:
            self.probe_record = merge_records(self.probe_record, probe.record(self.sites))
        return keep

    # -- heap scans ----------------------------------------------------------------------

    def _scan_due(self, steps_done: int, now: float) -> bool:
        if now >= self._scan_deadline:
            return True
        early = steps_done >= 2 and steps_done & (steps_done - 1) == 0
        # Growth is judged from several scans: a slow or loaded machine still gets a few.
        enough = len(self.graph_scans) >= MIN_EARLY_SCANS
        allowance = EARLY_SCAN_ALLOWANCE_S if enough else MIN_EARLY_SCANS_ALLOWANCE_S
        return early and self._scan_total_s < allowance

    def scan(self, steps_done: int, final: bool = False) -> None:
        t0 = self.clock()
        previous = self.graph_scans[-1]["largest_graph_nodes"] if self.graph_scans else None
        record = graphscan.scan(steps_done, previous)
        if final:
            record["final"] = True  # after the loop: the training's locals may be gone
        end = self.clock()
        self._scan_total_s += end - t0
        self._scan_deadline = end + max(MIN_SCAN_INTERVAL_S, (end - t0) / SCAN_BUDGET)
        self.graph_scans.append(record)
