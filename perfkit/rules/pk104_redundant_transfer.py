"""PK104 redundant-transfer: Tensors moved to the device for nothing, or back and forth.

## What it detects
a source line that, within a step, both copies data to the device and back to the host
(``y.to(device)`` then ``.cpu()`` for a metric), so bytes cross the bus for nothing.

## Why it is slow
Every copy crosses PCIe and the copy back to the host synchronises. Moving targets to the
GPU only to bring them back for a metric costs both.

## Example

    # before
    correct += (out.argmax(1).cpu() == y.to(device).cpu()).sum()
    # after
    correct += (out.argmax(1) == y).sum()  # both on the device

## Fix
Compute metrics where the data already is: on the device, or keep targets on the host.

## Saving
Not sized from a run file: each round trip also syncs the host; a GPU trace measures the
copies.
"""

from __future__ import annotations

from collections import defaultdict

from perfkit.evidence import Evidence, Need
from perfkit.findings import Finding, Severity
from perfkit.rules._base import Rule
from perfkit.rules._common import sites_of


def check(ev: Evidence) -> list[Finding]:
    both: dict[int, dict[str, int]] = defaultdict(lambda: {"h2d": 0, "d2h": 0, "bytes": 0})
    for step in ev.timed_steps:
        for site in sites_of(step, "transfers"):
            if site.direction in ("h2d", "d2h"):
                slot = both[site.site]
                slot[site.direction] += site.count
                slot["bytes"] += site.bytes
    round_trips = {k: v for k, v in both.items() if v["h2d"] and v["d2h"]}
    if not round_trips:
        return []
    steps = max(len(ev.timed_steps), 1)
    locations = [
        ev.location(k, count=round((v["h2d"] + v["d2h"]) / steps)) for k, v in round_trips.items()
    ]
    moved = sum(v["bytes"] for v in round_trips.values()) / steps
    return [
        RULE.finding(
            ev,
            Severity.INFO,
            f"{len(round_trips)} line(s) copy to the device and back in the same step "
            f"({moved / 1024:.0f} KiB a step)",
            {"round_trip_lines": len(round_trips), "bytes_per_step": moved},
            locations=locations,
            saving_reason="Each round trip also syncs the host; a GPU trace sizes it.",
        )
    ]


RULE = Rule(
    doc=__doc__,
    check=check,
    reads="GPU run file (transfer call sites)",
    needs=((Need.RUN, Need.GPU),),
)
