"""Save the run when the process is told to stop: SIGTERM (what Slurm, Kubernetes and
``timeout`` send) and SIGHUP (a closed terminal), as Ctrl-C already does.

The handler saves, then does what would have happened without perfkit: it calls the
script's own handler, or lets the default action end the process, so the exit status is
the same as without perfkit. A signal the script ignores is left alone: it stops nothing.
If the script's handler lets training go on, the run was saved at the signal and later
steps of a default session go unrecorded (never into a second run directory).
Handlers can only be set from the main thread; a session started elsewhere goes without.
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Callable
from types import FrameType
from typing import Any

STOP_SIGNALS = tuple(
    getattr(signal, name) for name in ("SIGTERM", "SIGHUP") if hasattr(signal, name)
)


class StopSignals:
    def __init__(self, save: Callable[[str], None]) -> None:
        self._save = save  # called with the signal's name, before the signal takes effect
        self._previous: dict[int, Any] = {}
        self._pid = os.getpid()

    def install(self) -> StopSignals:
        if threading.current_thread() is not threading.main_thread():
            return self
        for signum in STOP_SIGNALS:
            if signal.getsignal(signum) == signal.SIG_IGN:
                continue  # the script ignores it: it does not stop the process, nor the run
            try:
                self._previous[signum] = signal.signal(signum, self._handle)
            except (ValueError, OSError):  # an embedded interpreter may not allow it
                continue
        return self

    def uninstall(self) -> None:
        """Put the script's own handlers back (where ours is still the one installed). Only
        the main thread may; from another, ours stays and passes each signal on."""
        if threading.current_thread() is not threading.main_thread():
            return
        for signum, previous in list(self._previous.items()):
            if signal.getsignal(signum) == self._handle:
                signal.signal(signum, previous if previous is not None else signal.SIG_DFL)
        self._previous.clear()

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        previous = self._previous.get(signum, signal.SIG_DFL)
        if os.getpid() == self._pid:  # a forked child (a DataLoader worker) saves nothing
            self._save(signal.Signals(signum).name)
        self.uninstall()
        if callable(previous):
            previous(signum, frame)
        else:
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)  # the default action: the status is the signal's
