"""PK503 direct-forward: module.forward(x) called directly.

## What it detects
``module.forward(x)`` called directly instead of ``module(x)``, found in the probe step with
the calling line.

## Why it is slow
Module.__call__ runs forward pre/post hooks around forward(); calling forward() skips them,
which breaks DistributedDataParallel, hooks-based tools and module profiling annotations.

## Example

    # before
    out = model.forward(x)
    # after
    out = model(x)

## Fix
Call the module: model(x).

## Saving
None: a correctness and tooling problem more than a cost, since DDP's gradient hooks,
forward hooks and profilers' module annotations are skipped.
"""

from __future__ import annotations

from perfkit.evidence import Evidence, Need
from perfkit.findings import Finding, Severity
from perfkit.rules._base import Rule


def check(ev: Evidence) -> list[Finding]:
    direct = ev.the_probe.direct_forward
    if not direct:
        return []
    modules = ", ".join(sorted({d.module for d in direct}))
    return [
        RULE.finding(
            ev,
            Severity.INFO,
            f"{modules}.forward() called directly: module hooks do not run",
            {"calls": sum(d.count for d in direct), "modules": modules},
            locations=[ev.location(d.site, count=d.count) for d in direct],
            saving_reason="A correctness and tooling problem more than a cost: DDP's gradient "
            "hooks, forward hooks and profilers' module annotations are skipped.",
        )
    ]


RULE = Rule(
    doc=__doc__,
    check=check,
    reads="run file (probe step)",
    needs=((Need.RUN, Need.PROBE),),
)
