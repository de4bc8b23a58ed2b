"""The sampled torch.profiler window: wait, warm up, record a few steps, write a trace.

The profiler is created only when the window opens (after ``wait`` steps), so the steps
before it pay nothing, and is stopped when it closes, so the steps after pay nothing. The
trace goes through ``tensorboard_trace_handler`` (gzipped) into the run directory itself:
TensorBoard's profiler plugin takes each folder holding ``*.pt.trace.json[.gz]`` files for
a run named after the folder, so the run is shown under the run directory's name, and the
ranks of a torchrun job (one ``<host>_<pid>`` worker each) form one run, which its
Distributed view compares. (Runs recorded before this wrote into ``DIR/traces/``; their
run files list those paths and still read.) Kineto prints its own lines to the process's
stderr from C++; those are filtered out at the file-descriptor level.
"""

from __future__ import annotations

import contextlib
import os
import re
import socket
import sys
import tempfile
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import torch
from torch.profiler import ProfilerActivity, profile, schedule, tensorboard_trace_handler

# Lines that Kineto/CUPTI write straight to fd 2 on start and stop; anything else passes.
_NATIVE_NOISE = re.compile(
    rb"^(USDT:|STAGE:|\[W\d*.*(kineto|Profiler|CUPTI)|.*ActivityProfilerController|"
    rb".*SyncActivityProfilerHandler|.*CuptiActivityProfiler)"
)


@contextlib.contextmanager
def quiet_native_stderr() -> Iterator[None]:
    """Drop the profiler's native log lines from fd 2; pass every other line through."""
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError, AttributeError):
        yield  # no real fd 2 (embedded interpreter, notebook kernel): nothing to filter
        return
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            sink.seek(0)
            kept = [ln for ln in sink.read().splitlines(True) if not _NATIVE_NOISE.match(ln)]
            if kept:
                os.write(2, b"".join(kept))


# torch 2.13 can corrupt the heap when the profiler stops ("malloc(): unsorted double linked
# list corrupted" in stop_trace): about 1 run in 45 of 2-rank gloo DDP on a loaded machine.
# Most likely a race with other threads that record ops (gloo's workers close their
# collectives' records just after the step has moved on; pin-memory threads record too).
# Waiting a moment before the stop lets them finish: a mitigation of an upstream race, paid
# once per window (its export takes several times longer).
SETTLE_BEFORE_STOP_S = 0.05


@dataclass(frozen=True)
class WindowSpec:
    """Like ``torch.profiler.schedule``: wait, warm up, record; ``repeat`` cycles (0: forever)."""

    wait: int = 5
    warmup: int = 1
    active: int = 3
    repeat: int = 1

    @classmethod
    def parse(cls, value: object) -> WindowSpec | None:
        """None/False/"off" (off), True (default), a WindowSpec, or (wait, warmup, active[,
        repeat])."""
        if value is None or value is False or (isinstance(value, str) and value.lower() == "off"):
            return None
        if value is True:
            return cls()
        if isinstance(value, WindowSpec):
            return value
        if isinstance(value, (tuple, list)) and len(value) in (3, 4):
            spec = cls(*(int(v) for v in value))
            if spec.wait < 0 or spec.warmup < 0 or spec.active < 1 or spec.repeat < 0:
                raise ValueError("window needs wait >= 0, warmup >= 0, active >= 1, repeat >= 0")
            return spec
        raise ValueError(f"window must be (wait, warmup, active[, repeat]) or None, not {value!r}")

    def phase(self, step: int) -> str:
        """'' outside a window, else 'warmup' or 'active' for that step."""
        cycle = self.wait + self.warmup + self.active
        if self.repeat and step >= cycle * self.repeat:
            return ""
        pos = step % cycle
        if pos < self.wait:
            return ""
        return "warmup" if pos < self.wait + self.warmup else "active"


class ProfilerWindow:
    """Opens a torch.profiler at each window's first step and closes it after its last.

    If the profiler cannot start (the user already runs one; torch refuses nesting), the
    reason is kept in ``error`` and the window is off for the rest of the run: the
    training goes on.
    """

    def __init__(self, spec: WindowSpec, traces_dir: str, with_cuda: bool) -> None:
        self.spec = spec
        self.traces_dir = traces_dir
        self.with_cuda = with_cuda
        self._prof: profile | None = None
        self._off = False
        self._discard = False
        self.error = ""
        # Held by the run file's writer while it writes: the window starts between two
        # writes, so that its Python tracer never records perfkit's own writing (or the
        # TensorBoard import of the first write), which once broke the trace's JSON.
        self.writes: contextlib.AbstractContextManager[Any] = contextlib.nullcontext()

    def phase(self, step: int) -> str:
        return "" if self._off else self.spec.phase(step)

    @property
    def recording(self) -> bool:
        return self._prof is not None

    def before_step(self, step: int) -> None:
        if (
            self._prof is None
            and not self._off
            and self.spec.phase(step)
            and (step == 0 or not self.spec.phase(step - 1))
        ):
            self._guarded(self._open)

    def after_step(self, step: int) -> None:
        if self._prof is None:
            return
        following = self.spec.phase(step + 1)
        if not following:
            time.sleep(SETTLE_BEFORE_STOP_S)
        # Kineto logs only when the schedule changes phase; filtering stderr costs ~0.3 ms.
        self._guarded(self._step, quiet=following != self.spec.phase(step))
        if not following and self._prof is not None:
            prof, self._prof = self._prof, None
            self._guarded(lambda: prof.stop())
            if self._discard:
                self._delete_traces()

    def restart(self) -> None:
        """The steps were re-cut (a stronger step signal appeared): what the window recorded
        covers sub-steps that no longer exist. Its traces are deleted and the schedule starts
        over at the new step 0. A window still recording is left to end on its own (stopping
        torch's profiler halfway and starting another crashes at exit): its trace is deleted
        when it ends."""
        if self._prof is not None:
            self._discard = True
            return
        self._delete_traces()

    def _delete_traces(self) -> None:
        self._discard = False
        if not os.path.isdir(self.traces_dir):
            return
        mine = f"{socket.gethostname()}_{os.getpid()}."
        for name in os.listdir(self.traces_dir):
            if name.startswith(mine) and ".pt.trace.json" in name:
                with contextlib.suppress(OSError):
                    os.remove(os.path.join(self.traces_dir, name))

    def close(self) -> None:
        """End of the run: stop a window still open, and open no more."""
        prof, self._prof = self._prof, None
        self._off = True
        if prof is not None:
            time.sleep(SETTLE_BEFORE_STOP_S)
            self._guarded(prof.stop)

    def _guarded(self, action, quiet: bool = True) -> None:
        try:
            with quiet_native_stderr() if quiet else contextlib.nullcontext():
                action()
        except Exception as e:  # the training comes first: note it and stop profiling
            self.error = f"{type(e).__name__}: {e}"
            self._off = True
            self._prof = None

    def _step(self) -> None:
        if self._prof is not None:
            self._prof.step()

    def _open(self) -> None:
        if torch._C._autograd._profiler_enabled():
            # Starting a second one would silently end the user's own profiling session.
            raise RuntimeError("another torch.profiler is already recording; window skipped")
        activities = [ProfilerActivity.CPU]
        if self.with_cuda:
            activities.append(ProfilerActivity.CUDA)
        os.makedirs(self.traces_dir, exist_ok=True)
        worker = f"{socket.gethostname()}_{os.getpid()}"
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Profiler won't be using warmup")
            steps = schedule(wait=0, warmup=self.spec.warmup, active=self.spec.active, repeat=1)
        prof = profile(
            activities=activities,
            schedule=steps,
            on_trace_ready=tensorboard_trace_handler(self.traces_dir, worker, use_gzip=True),
            record_shapes=True,
            with_stack=True,
        )
        with self.writes:  # not while the run file is being written: see ``writes``
            prof.start()
            self._prof = prof
