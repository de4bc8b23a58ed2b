"""The sampled torch.profiler window: wait, warm up, record a few steps, write a trace.

The profiler is created only when the window opens (after ``wait`` steps), so the steps
before it pay nothing, and is stopped when it closes, so the steps after pay nothing. The
trace goes through ``tensorboard_trace_handler`` (gzipped) into ``DIR/traces/`` where
TensorBoard's profiler plugin finds it. Kineto prints its own lines to the process's
stderr from C++; those are filtered out at the file-descriptor level.
"""

from __future__ import annotations

import contextlib
import os
import re
import socket
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass

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


@dataclass(frozen=True)
class WindowSpec:
    wait: int = 5
    warmup: int = 1
    active: int = 3

    @classmethod
    def parse(cls, value: object) -> WindowSpec | None:
        """None/False (off), True (default), a WindowSpec, or (wait, warmup, active)."""
        if value is None or value is False:
            return None
        if value is True:
            return cls()
        if isinstance(value, WindowSpec):
            return value
        if isinstance(value, (tuple, list)) and len(value) == 3:
            wait, warmup, active = (int(v) for v in value)
            if wait < 0 or warmup < 0 or active < 1:
                raise ValueError("window needs wait >= 0, warmup >= 0 and active >= 1")
            return cls(wait, warmup, active)
        raise ValueError(f"window must be (wait, warmup, active) or None, not {value!r}")


class ProfilerWindow:
    """Drives one profiler window from step boundaries."""

    def __init__(self, spec: WindowSpec, traces_dir: str, with_cuda: bool) -> None:
        self.spec = spec
        self.traces_dir = traces_dir
        self.with_cuda = with_cuda
        self._prof: profile | None = None
        self._done = False
        self.error = ""

    def phase(self, step: int) -> str:
        """'' outside the window, else 'warmup' or 'active' for the step about to run."""
        start = self.spec.wait
        if step < start or step >= start + self.spec.warmup + self.spec.active or self._done:
            return ""
        return "warmup" if step < start + self.spec.warmup else "active"

    def before_step(self, step: int) -> None:
        if step == self.spec.wait and self._prof is None and not self._done:
            self._open()

    def after_step(self, step: int) -> None:
        if self._prof is None:
            return
        with quiet_native_stderr():
            self._prof.step()
        if step + 1 >= self.spec.wait + self.spec.warmup + self.spec.active:
            self.close()

    def close(self) -> None:
        prof, self._prof = self._prof, None
        self._done = True
        if prof is not None:
            with quiet_native_stderr():
                prof.stop()

    def _open(self) -> None:
        activities = [ProfilerActivity.CPU]
        if self.with_cuda:
            activities.append(ProfilerActivity.CUDA)
        os.makedirs(self.traces_dir, exist_ok=True)
        worker = f"{socket.gethostname()}_{os.getpid()}"
        prof = profile(
            activities=activities,
            schedule=schedule(wait=0, warmup=self.spec.warmup, active=self.spec.active, repeat=1),
            on_trace_ready=tensorboard_trace_handler(self.traces_dir, worker, use_gzip=True),
            record_shapes=True,
            with_stack=True,
        )
        with quiet_native_stderr():
            prof.start()
        self._prof = prof
