"""PK302 worker-respawn: DataLoader workers re-spawned every epoch.

## What it detects
loaders with ``num_workers > 0`` and ``persistent_workers=False`` whose workers were spawned
once per epoch.

## Why it is slow
Without persistent_workers, every epoch forks new worker processes, re-imports and re-
initialises the dataset in each, and refills the prefetch queue before the first batch
arrives.

## Example

    # before
    DataLoader(ds, num_workers=4)
    # after
    DataLoader(ds, num_workers=4, persistent_workers=True)

## Fix
DataLoader(..., num_workers=N, persistent_workers=True).

## Saving
The start-up waits (steps waiting five times the median for data) spread over all steps:
what persistent workers would not pay again.
"""

from __future__ import annotations

import statistics

from perfkit.evidence import Evidence
from perfkit.findings import Finding, Severity
from perfkit.rules._base import Rule
from perfkit.rules._common import loader_locations

# A step whose data wait is this many times the median is a worker start-up, not a batch.
SPIKE_FACTOR = 5.0


def check(ev: Evidence) -> list[Finding]:
    run = ev.the_run
    loaders = [
        d
        for d in run.config.dataloaders
        if (d.num_workers or 0) > 0 and d.worker_spawns >= 2 and not d.persistent_workers
    ]
    if not loaders:
        return []
    spawns = sum(d.worker_spawns for d in loaders)
    waits = [s.data_wait_ms for s in run.steps[1:]]
    typical = statistics.median(waits) if waits else 0.0
    spikes = [w - typical for w in waits if w > SPIKE_FACTOR * max(typical, 0.1)]
    saving = sum(spikes) / len(waits) if waits else None
    return [
        RULE.finding(
            ev,
            Severity.INFO,
            f"DataLoader workers were started {spawns} times ({len(loaders)} loader(s) with "
            f"persistent_workers=False); first batches after a start wait "
            f"{statistics.median(spikes) if spikes else 0:.0f} ms",
            {
                "worker_spawns": spawns,
                "loaders": len(loaders),
                "startup_waits_ms": [round(s, 1) for s in spikes[:10]],
            },
            locations=loader_locations(ev, loaders),
            saving_ms=saving,
            saving_reason="Start-up waits (steps waiting 5x the median for data) spread over "
            "all steps: what persistent workers would not pay again.",
        )
    ]


RULE = Rule(
    doc=__doc__,
    check=check,
    reads="run file (DataLoader settings and worker spawns)",
)
