"""Files what the probes report into intervals: the open step's, or the gap before the next.

Syncs, transfers, DataLoader waits and ``empty_cache`` calls arrive here from the probes
(syncs.py, transfers.py, dataloader.py, training.py) on the training thread. Each is a dict
increment on ``acc``, the interval since the last step boundary; the Session hands that
interval to the step record when the step closes, or to ``outside`` when it ends a gap.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from perfkit.capture import state
from perfkit.capture.callsite import LIBRARY, TORCH, caller, calling_frames, inside, site_key
from perfkit.capture.probe_step import StepProbe
from perfkit.capture.records import D2D, D2H, H2D, INTENT, Interval


class EventRecorder:
    def __init__(self, accelerator: bool, probe: Callable[[], StepProbe | None]) -> None:
        self.accelerator = accelerator
        self._probe = probe  # the probe step running now, if any: it sees reads too
        self.acc = Interval()
        # Events between steps (validation, logging) and before the first or after the last.
        self.outside = Interval()
        # Lines that synced between two decorated steps -> in how many such gaps: what
        # recurs with the iterations, unlike set-up before the loop or evaluation after it.
        self.gap_sync_sites: dict[tuple, int] = {}
        # Lines where torch's own code read device data in a probe step (see _torch_read).
        self._torch_device_sites: set[tuple] = set()
        self._cpu_marker: tuple | None = None

    # -- intervals ---------------------------------------------------------------------

    def end_gap(self, between_steps: bool) -> None:
        """A step opens: the gap's events go outside the steps (counted per line when the
        gap lies between two decorated steps); its data wait stays, for this step's batch."""
        gap = self.acc
        if not gap.has_events():
            return
        if between_steps:
            for key in {key for key, _ in gap.syncs}:
                self.gap_sync_sites[key] = self.gap_sync_sites.get(key, 0) + 1
        self.outside.merge_events(gap)
        self.acc = Interval(gap.data_wait_s, gap.batches)

    def take(self) -> tuple[float, int, Interval | None]:
        """(data wait, batches, events or None) of the interval, for the step that closes
        now; it starts again empty. The hot path: without events nothing is allocated."""
        acc = self.acc
        if acc.has_events():
            self.acc = Interval()
            return acc.data_wait_s, acc.batches, acc
        wait, batches = acc.data_wait_s, acc.batches
        acc.data_wait_s, acc.batches = 0.0, 0
        return wait, batches, None

    def to_outside(self) -> None:
        """What happened since the last boundary belongs to no step."""
        self.outside.merge_events(self.acc)
        self.acc = Interval()

    # -- events from probes ------------------------------------------------------------

    def on_tensor_sync(self, tensor: torch.Tensor, kind: str) -> None:
        on_cpu = tensor.device.type == "cpu"
        if on_cpu and self.accelerator:
            return  # a CPU tensor on a machine with a GPU: nothing to wait for
        if on_cpu and state.fetching:
            return  # data preparation in __getitem__ works on host tensors, GPU run or not
        who, first, frame = calling_frames()
        if who in (TORCH, LIBRARY) and first is not None:
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
        probe = self._probe()
        if on_cpu and probe is not None:  # host data or would-be device data?
            probe.on_scalar_read(tensor, key, implicit=who == LIBRARY or kind == "index")
        self.acc.add_sync(key, kind)

    def _torch_read(self, tensor: torch.Tensor, key: tuple, kind: str) -> None:
        """A scalar read inside torch on a CPU-only run. Mostly torch reading its own host
        scalars (an optimizer's step count), which never syncs; but LBFGS reads the loss,
        which would. The probe step tells them apart by where the tensor came from, and
        the lines it saw reading device data are counted from then on."""
        probe = self._probe()
        if probe is not None:
            if not probe.seen_on_device(tensor):
                return  # its own state, made before the probe: no evidence it is device data
            self._torch_device_sites.add(key)
        elif key not in self._torch_device_sites:
            return
        self.acc.add_sync(key, kind)

    def on_explicit_sync(self, kind: str) -> None:
        self.acc.add_sync(site_key(caller()[1]), kind)

    def on_transfer(
        self, src: torch.Tensor, out: torch.Tensor, non_blocking: bool, method: str
    ) -> None:
        sdev, ddev = src.device, out.device
        if sdev == ddev:
            self._same_device(src, out, non_blocking, method)
            return
        key = site_key(caller()[1])
        nbytes = src.nelement() * src.element_size()
        if sdev.type == "cpu":
            self.acc.add_transfer(key, H2D, nbytes, src.is_pinned(), non_blocking)
        elif ddev.type == "cpu":
            self.acc.add_transfer(key, D2H, nbytes, out.is_pinned(), non_blocking)
            if not non_blocking:
                self.acc.add_sync(key, "cpu")
        else:
            self.acc.add_transfer(key, D2D, nbytes, False, non_blocking)

    def _same_device(
        self, src: torch.Tensor, out: torch.Tensor, non_blocking: bool, method: str
    ) -> None:
        """A move that moved nothing: on a CPU-only machine, where a GPU run would move."""
        if self.accelerator or state.fetching:
            return  # a cast, a no-op, or data preparation on the host
        who, frame = caller()
        if who == TORCH:
            return
        probe = self._probe()
        if method == "cpu":
            # CPU-only machine: .cpu() is where a GPU run would wait for the device.
            key = site_key(frame)
            if probe is not None:
                probe.on_scalar_read(src, key)
            self.acc.add_sync(key, "cpu")
            self._cpu_marker = (id(out), frame, frame.f_lineno if frame else 0)
            return
        if probe is not None:
            probe.mark_device_data(out)  # where a GPU run would keep its data
        nbytes = src.nelement() * src.element_size()
        self.acc.add_transfer(site_key(frame), INTENT, nbytes, False, non_blocking)

    def on_batch_end(self, t0: float, t1: float, got_batch: bool) -> None:
        self.acc.data_wait_s += t1 - t0
        self.acc.batches += got_batch

    def on_empty_cache(self) -> None:
        self.acc.add_empty_cache(site_key(caller()[1]))
