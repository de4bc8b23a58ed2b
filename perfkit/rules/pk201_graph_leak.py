"""PK201 graph-leak: An autograd graph is kept alive across steps.

## What it detects
the number of live autograd nodes rising again and again across heap scans — ``total_loss +=
loss`` chains every step's graph onto the last one, a list of loss tensors keeps every
step's graph. Resetting the total or the list each epoch turns the growth into a sawtooth:
still a leak for the whole epoch, and still found.

## Why it is slow
Adding a loss tensor to a running total (total += loss) makes the total depend on every
step's graph, so none of their saved activations are ever freed. Memory grows each step
until the process runs out.

## Example

    # before
    total_loss += loss
    # after
    total_loss += loss.detach()

## Fix
Accumulate detached values: total += loss.detach() (or loss.item() once per epoch).

## Saving
Memory, not time: every kept step holds its graph and activations until the process runs out
of memory.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import pairwise

from perfkit.evidence import Evidence, Need
from perfkit.findings import Finding, Severity
from perfkit.rules._base import Rule
from perfkit.rules._common import holder_location, series, sustained_growth
from perfkit.runmodel import HeapScan

# Below one new node per step the growth is noise (a cache filling up), not a chained graph.
MIN_NODES_PER_STEP = 1.0
# Scan pairs that must show nodes surviving from one scan to the next (when the scans
# carry node ages; older run files are judged on growth alone).
MIN_KEPT = 2


def kept_across_steps(scans: Sequence[HeapScan]) -> tuple[int, int]:
    """(pairs of consecutive scans where the later one still holds nodes the earlier one
    saw, pairs that could tell): a graph kept alive across steps, not just a big one."""
    kept = pairs = 0
    for a, b in pairwise(scans):
        early, late = a.node_ages, b.node_ages
        if early is not None and late is not None and len(early) == len(late) == 2:
            pairs += 1
            kept += late[0] <= early[1]
    return kept, pairs


def check(ev: Evidence) -> list[Finding]:
    scans = ev.heap_scans
    growth = sustained_growth(series(scans, "graph_nodes"))
    if growth is None or growth < MIN_NODES_PER_STEP:
        return []
    kept, pairs = kept_across_steps(scans)
    if pairs and kept < MIN_KEPT:
        return []  # graphs of varying size, each freed by the next step: no leak
    first = scans[0]
    peak = max(scans, key=lambda g: g.graph_nodes)
    root = peak.largest_graph_root
    message = (
        f"the autograd graph grows by ~{growth:.0f} nodes per step "
        f"({first.graph_nodes} -> {peak.graph_nodes} nodes by step {peak.step})"
    )
    if root:
        message += f"; the growing graph ends in {root}"
    held = next((g.largest_graph_holder for g in reversed(scans) if g.largest_graph_holder), None)
    locations = []
    if held is not None and held.name:
        inside = f"items of `{held.name}`" if held.through else f"`{held.name}`"
        message += f"; it is kept alive by {inside} in {held.function or '?'}()"
        locations.append(holder_location(held))
    return [
        RULE.finding(
            ev,
            Severity.WARNING,
            message,
            {
                "nodes_per_step": round(growth, 1),
                "scans": len(scans),
                "graph_nodes": [g.graph_nodes for g in scans],
            },
            locations=locations,
            saving_reason="Memory, not time, until the process runs out of it: every step "
            "keeps its activations alive.",
        )
    ]


RULE = Rule(
    doc=__doc__,
    check=check,
    reads="run file (heap scans)",
    needs=((Need.RUN, Need.HEAP_SCANS),),
)
