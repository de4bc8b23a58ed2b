"""PK203 memory-growth: Memory grows step over step.

## What it detects
live tensor bytes (heap scans) rising again and again across the run and not given back —
outputs or metrics retained in Python containers for good. A collection cleared every epoch
(predictions kept for an epoch metric) gives its memory back and is not reported; neither is
a one-time allocation (optimizer state, a stored snapshot) or a history that stops at a
fixed size.

## Why it is slow
Tensors appended to a list (outputs, losses, predictions) stay alive for the whole run; on a
GPU they hold device memory until training dies of OOM.

## Example

    # before
    outputs.append(out)
    # after
    stats.update(out.detach())  # or keep a running sum

## Fix
Keep only what you need, detached and on the host (.detach().cpu()), or reduce on the fly.

## Saving
Memory, not time: the growth per step, until the run ends in an out-of-memory error.
"""

from __future__ import annotations

from collections.abc import Sequence

from perfkit.evidence import Evidence, Need
from perfkit.findings import Finding, Severity
from perfkit.rules._base import Rule
from perfkit.rules._common import holder_location, net_growth, series, sustained_growth
from perfkit.runmodel import HeapScan, Holder

# Steady growth smaller than this over the whole run is a cache warming up, not a leak.
MIN_TOTAL_GROWTH_BYTES = 16 * 1024
# Unlike graph nodes (exactly flat in a clean loop), live bytes are noisy: ask for more.
RISES_PER_FALL = 3.0
# A container that gained this many tensors over the run is the one that keeps them.
MIN_HOLDER_GROWTH = 2
# Memory that keeps growing keeps most of what each rise added: at least this share.
KEPT_SHARE = 0.5


def check(ev: Evidence) -> list[Finding]:
    scans = ev.heap_scans
    if sustained_growth(series(scans, "graph_nodes")):
        return []  # a growing graph explains it: graph-leak reports that
    # Live bytes move with the batches in flight; a leak rises nearly every time.
    per_step = sustained_growth(series(scans, "tensor_bytes"), rises_per_fall=RISES_PER_FALL)
    first, last = scans[0], scans[-1]
    total = net_growth(scans, "tensor_bytes")
    if per_step is None or total < MIN_TOTAL_GROWTH_BYTES:
        return []
    if total < KEPT_SHARE * per_step * (last.step - first.step):
        return []  # given back along the way: a collection cleared now and then
    message = (
        f"live tensors grow by {per_step / 1024:.1f} KiB per step "
        f"({first.tensors} -> {last.tensors} tensors, +{total / 2**20:.2f} MiB "
        f"from step {first.step} to {last.step})"
    )
    keeper = growing_holder(scans)
    locations = []
    severity = Severity.WARNING
    if keeper is not None:
        held, before = keeper
        message += (
            f"; `{held.name}` in {held.function or '?'}() holds {before} -> {held.tensors} tensors"
        )
        locations.append(holder_location(held))
        bound = held.maxlen
        if bound is not None and held.items:
            # A deque(maxlen=N) (a replay buffer) stops growing at N items: a known cost.
            full = total / held.items * bound
            message += f"; it is bounded at {bound} items, about {full / 2**20:.0f} MiB when full"
            severity = Severity.INFO
    return [
        RULE.finding(
            ev,
            severity,
            message,
            {
                "bytes_per_step": round(per_step),
                "growth_bytes": total,
                "tensors": [g.tensors for g in scans],
            },
            locations=locations,
            saving_reason="Memory, not time: the run ends in an out-of-memory error if it "
            "goes on long enough.",
        )
    ]


def growing_holder(scans: Sequence[HeapScan]) -> tuple[Holder, int] | None:
    """The variable whose container of tensors grew the most from the first scan that saw
    it to the last (``outputs.append(out)``), with its count at the first."""
    seen: dict[tuple, tuple[int, int, Holder]] = {}
    for scan in scans:
        for held in scan.tensor_holders:
            if held.tensors is None:
                continue
            key = (held.name, held.function, held.file)
            first = seen.get(key, (held.tensors, 0, held))[0]
            seen[key] = (first, held.tensors, held)
    grown = [(last - first, first, held) for first, last, held in seen.values()]
    grown = [g for g in grown if g[0] >= MIN_HOLDER_GROWTH]
    if not grown:
        return None
    _, first, held = max(grown, key=lambda g: g[0])
    return held, first


RULE = Rule(
    doc=__doc__,
    check=check,
    reads="run file (heap scans)",
    needs=((Need.RUN, Need.HEAP_SCANS),),
)
