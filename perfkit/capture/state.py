"""Module-level state the probes read on every call: kept tiny so the check is one lookup."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from perfkit.capture.session import Session

# The session that probes report to; None when nothing is being captured.
session: Session | None = None
# Above zero while a probed call runs, so torch's own nested calls are not counted twice.
guard = 0
# Above zero while a DataLoader fetches a batch on this process: data preparation runs on
# host tensors by design, so its scalar reads and small ops are not device syncs/launches.
fetching = 0
