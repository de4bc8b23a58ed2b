"""PK103 blocking-copy: Copies that could overlap with compute block instead.

## What it detects
host-to-device copies whose source is pinned but which block the host anyway, so the copy
cannot overlap with compute.

## Why it is slow
A copy from pinned memory can run asynchronously while kernels execute, but only when asked:
with non_blocking=False the host waits for the copy to finish.

## Example

    # before
    x = x.to(device)
    # after (x from a pin_memory=True loader)
    x = x.to(device, non_blocking=True)

## Fix
Pass non_blocking=True when copying pinned tensors to the device.

## Saving
Not sized: the overlap gained depends on the compute queued when the copy is issued.
"""

from __future__ import annotations

from perfkit.evidence import Evidence, Need
from perfkit.findings import Finding, Severity
from perfkit.rules._base import Rule
from perfkit.rules._common import site_totals, top_locations


def check(ev: Evidence) -> list[Finding]:
    totals = site_totals(
        ev,
        "transfers",
        keep=lambda s: s.direction == "h2d" and s.pinned and not s.non_blocking,
    )
    if not totals:
        return []
    steps = len(ev.timed_steps)
    per_step = sum(totals.values()) / max(steps, 1)
    return [
        RULE.finding(
            ev,
            Severity.INFO,
            f"{per_step:.0f} copies per step from pinned memory with non_blocking=False",
            {"blocking_pinned_copies_per_step": per_step},
            locations=top_locations(ev, totals, steps),
            saving_reason="The overlap gained depends on the compute queued at the time.",
        )
    ]


RULE = Rule(
    doc=__doc__,
    check=check,
    reads="GPU run file (transfer counters with pinned/non_blocking)",
    needs=((Need.RUN, Need.GPU),),
)
