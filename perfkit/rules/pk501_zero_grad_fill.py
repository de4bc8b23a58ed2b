"""PK501 zero-grad-fill: zero_grad(set_to_none=False).

## What it detects
``zero_grad(set_to_none=False)`` calls, with their call sites: every step then writes zeros
into every gradient.

## Why it is slow
Filling gradients with zeros launches a kernel per parameter and makes backward accumulate
instead of assign; setting them to None costs nothing.

## Example

    # before
    optimizer.zero_grad(set_to_none=False)
    # after
    optimizer.zero_grad()

## Fix
optimizer.zero_grad() (set_to_none=True is the default since torch 2.0).

## Saving
Not sized: one memset per parameter per step, and the backward then adds into the zeros
instead of writing fresh gradients.
"""

from __future__ import annotations

from perfkit.evidence import Evidence
from perfkit.findings import Finding, Severity
from perfkit.rules._base import Rule


def check(ev: Evidence) -> list[Finding]:
    zero_grad = ev.the_run.config.zero_grad
    fills = zero_grad.fill_zero
    if not fills:
        return []
    sites = [ev.location(s.site, count=s.count) for s in zero_grad.fill_zero_sites]
    return [
        RULE.finding(
            ev,
            Severity.INFO,
            f"zero_grad(set_to_none=False) called {fills} times: every step writes zeros "
            "into every gradient",
            {"fill_zero_calls": fills, "set_to_none_calls": zero_grad.set_to_none},
            locations=sites,
            saving_reason="One memset per parameter per step, and the backward then adds "
            "into the zeros instead of writing fresh gradients.",
        )
    ]


RULE = Rule(
    doc=__doc__,
    check=check,
    reads="run file (zero_grad calls)",
)
