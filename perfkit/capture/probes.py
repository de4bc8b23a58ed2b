"""Install every probe once, shared by all users (decorators and sessions), by reference count."""

from __future__ import annotations

import threading

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
            syncs.install(_patches)
            transfers.install(_patches)
            dataloader.install(_patches)
            training.install(_patches, _handles)
        _users += 1


def release() -> None:
    """Remove the probes when the last user is done, restoring torch exactly."""
    global _users
    with _lock:
        _users = max(0, _users - 1)
        if _users == 0:
            _handles.remove()
            _patches.undo()


def installed() -> bool:
    return bool(_patches)
