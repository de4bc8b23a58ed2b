"""Install every probe once, shared by all users (decorators and sessions), by reference count."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator

from perfkit.capture import dataloader, syncs, training, transfers
from perfkit.capture.patching import Patches

_lock = threading.Lock()
_patches = Patches()
_handles = training.Handles()
_users = 0


def acquire() -> None:
    """Install the probes if this is the first user. They cost nothing without a session."""
    global _users
    with _lock:
        if _users == 0:
            _install_all()
        _users += 1


def _install_all() -> None:
    syncs.install(_patches)
    transfers.install(_patches)
    dataloader.install(_patches)
    training.install(_patches, _handles)


def release() -> None:
    """Remove the probes when the last user is done, restoring torch exactly."""
    global _users
    with _lock:
        _users = max(0, _users - 1)
        if _users == 0:
            _handles.remove()
            _patches.undo()


@contextlib.contextmanager
def suspended() -> Iterator[None]:
    """Run a block with torch exactly as it was before perfkit (benchmarks compare the two)."""
    with _lock:
        active = bool(_patches)
        if active:
            _handles.remove()
            _patches.undo()
    try:
        yield
    finally:
        if active:
            with _lock:
                _install_all()
