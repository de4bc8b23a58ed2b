"""PK205 empty-cache: torch.cuda.empty_cache() inside the loop.

## What it detects
Calls to ``torch.cuda.empty_cache()`` inside training steps, with their call sites. Without
a GPU the call is a no-op and the finding is a note.

## Why it is slow
The caching allocator keeps freed blocks to reuse them next step. Emptying it returns them
to the driver, so the next step pays for cudaMalloc/cudaFree again, which also synchronises.

## Example

    # before
    for x, y in loader:
        ...
        torch.cuda.empty_cache()
    # after
    for x, y in loader:
        ...

## Fix
Remove it from the loop; call it once after a phase that freed a lot, if at all.

## Saving
Not sized from a run file: the cost is the cudaMalloc calls the next step must make again,
which a GPU trace shows.
"""

from __future__ import annotations

from collections import Counter

from perfkit.evidence import Evidence
from perfkit.findings import Finding, Severity
from perfkit.rules._base import Rule


def check(ev: Evidence) -> list[Finding]:
    totals: Counter[int] = Counter()
    for step in ev.timed_steps:
        for site in step.events.empty_cache if step.events is not None else ():
            totals[site.site] += site.count
    if not totals:
        return []
    steps = max(len(ev.timed_steps), 1)
    on_gpu = bool(ev.accelerator)
    message = f"torch.cuda.empty_cache() called {sum(totals.values()) / steps:.1f} times per step"
    if not on_gpu:
        message += " (a no-op without a GPU; on one it costs every step)"
    return [
        RULE.finding(
            ev,
            Severity.WARNING if on_gpu else Severity.INFO,
            message,
            {"calls_per_step": sum(totals.values()) / steps},
            locations=[ev.location(k, count=round(n / steps)) for k, n in totals.most_common(5)],
            saving_reason="The cost is the cudaMalloc calls the next step must make again; "
            "a GPU trace shows them.",
        )
    ]


RULE = Rule(
    doc=__doc__,
    check=check,
    reads="run file (empty_cache call sites)",
)
