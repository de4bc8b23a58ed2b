"""Evidence for leaked autograd graphs and retained tensors, from a scan of live objects.

A scan walks ``gc.get_objects()`` once: it counts live tensors and their storage bytes,
the tensors that carry a ``grad_fn``, and the autograd nodes reachable from those (a
bounded walk of ``next_functions``). One scan costs milliseconds to ~100 ms in a big
process, so the Session runs it on a time budget, never every step. Leaks show as growth
across scans: ``total += loss`` grows the graph by a fixed number of nodes per step, a list
of graph-attached outputs grows the count of grad-bearing tensors, a list of detached
outputs grows live tensor bytes; a clean loop stays flat.
"""

from __future__ import annotations

import gc
import time
from typing import Any

import torch

# Stop walking after this many autograd nodes: enough to show growth, bounded in cost.
MAX_GRAPH_NODES = 200_000


def _graph_nodes(roots: list[Any], limit: int) -> tuple[int, int, str]:
    """(distinct nodes reachable from all roots, nodes of the largest graph, its root's type)."""
    seen: set[int] = set()
    largest = 0
    largest_root = ""
    for root in roots:
        before = len(seen)
        stack = [root]
        while stack and len(seen) < limit:
            node = stack.pop()
            if node is None or id(node) in seen:
                continue
            seen.add(id(node))
            stack.extend(fn for fn, _ in getattr(node, "next_functions", ()))
        if len(seen) - before > largest:
            largest, largest_root = len(seen) - before, type(root).__name__
    return len(seen), largest, largest_root


def _tensor_types() -> set[type]:
    """torch.Tensor and every subclass defined so far (Parameter, Buffer, user subclasses)."""
    found: set[type] = set()
    stack: list[type] = [torch.Tensor]
    while stack:
        cls = stack.pop()
        if cls not in found:
            found.add(cls)
            stack.extend(cls.__subclasses__())
    return found


def scan(step: int) -> dict[str, Any]:
    """One scan of the live heap; returns the run-file record."""
    t0 = time.perf_counter()
    # type() against a set: isinstance() would call __class__ on every object, and some
    # objects (deprecated torch aliases) warn when asked.
    kinds = _tensor_types()
    live = [obj for obj in gc.get_objects() if type(obj) in kinds]
    storages: dict[int, int] = {}
    roots = []
    for obj in live:
        try:
            storage = obj.untyped_storage()
            storages[storage.data_ptr()] = storage.nbytes()
        except (RuntimeError, NotImplementedError):
            pass  # sparse, meta or wrapper tensors have no plain storage
        if obj.grad_fn is not None:
            roots.append(obj.grad_fn)
    nodes, largest, largest_root = _graph_nodes(roots, MAX_GRAPH_NODES)
    return {
        "step": step,
        "tensors": len(live),
        "tensor_bytes": sum(storages.values()),
        "grad_tensors": len(roots),
        "graph_nodes": nodes,
        "largest_graph_nodes": largest,
        "largest_graph_root": largest_root,
        "cost_ms": round((time.perf_counter() - t0) * 1e3, 3),
    }
