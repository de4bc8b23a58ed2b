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
import itertools
import linecache
import re
import sys
import time
from collections import deque
from collections.abc import Iterator
from types import CodeType, FrameType
from typing import Any

import torch

from perfkit.capture.callsite import USER, kind_of

# Stop walking after this many autograd nodes: enough to show growth, bounded in cost.
MAX_GRAPH_NODES = 200_000
# Find who holds the largest graph (one more pass over the heap) only when it has grown
# since the last scan, by this many nodes at least: what a leak looks like.
HOLDER_MIN_GROWTH = 16
# The containers of tensors a scan lists, biggest first, and how many items it looks at.
HOLDERS_KEPT = 3
MAX_ITEMS = 1_000_000


def _graph_nodes(roots: list[Any], limit: int) -> tuple[int, int, int, list[int] | None]:
    """(distinct nodes reachable from all roots, nodes of the largest graph, its root's
    index, [oldest, newest] creation number of the nodes made by operations).

    Autograd numbers the nodes it creates in order (``_sequence_nr``): when a scan sees a
    node older than the newest one of the previous scan, a graph was kept across steps.
    Gradient accumulators (no ``next_functions``) live with their parameters and are left
    out."""
    seen: set[int] = set()
    largest = 0
    largest_root = -1
    oldest = newest = None
    for i, root in enumerate(roots):
        before = len(seen)
        stack = [root]
        while stack and len(seen) < limit:
            node = stack.pop()
            if node is None or id(node) in seen:
                continue
            seen.add(id(node))
            nexts = getattr(node, "next_functions", ())
            if nexts:
                seq = node._sequence_nr()
                oldest = seq if oldest is None else min(oldest, seq)
                newest = seq if newest is None else max(newest, seq)
            stack.extend(fn for fn, _ in nexts)
        if len(seen) - before > largest:
            largest, largest_root = len(seen) - before, i
    ages = [oldest, newest] if oldest is not None else None
    return len(seen), largest, largest_root, ages


def _user_variables() -> Iterator[tuple[FrameType, str, Any]]:
    """(frame, name, value) of the variables of the user's functions running now, innermost
    first: their locals, and their module's globals."""
    frame: FrameType | None = sys._getframe(2)
    while frame is not None:
        if kind_of(frame.f_code) == USER:
            scopes = [frame.f_locals]
            if frame.f_globals is not frame.f_locals:
                scopes.append(frame.f_globals)
            for scope in scopes:
                for name, value in list(scope.items()):
                    yield frame, name, value
        frame = frame.f_back


def holder(obj: Any) -> dict[str, Any] | None:
    """Which variable keeps ``obj`` alive: a local or global of a function running now,
    directly or as an item of a list/tuple/dict/deque it holds (``losses.append(loss)``),
    and the line of that function that adds to it: the line to change."""
    for frame, name, value in _user_variables():
        through = _holds(value, obj)
        if through is not None:
            return {**_binding(frame.f_code, name, frame.f_lineno), "through": through}
    return None


def tensor_holders(kinds: set[type], limit: int = HOLDERS_KEPT) -> list[dict[str, Any]]:
    """The containers of running functions' variables that hold the most tensors (a list of
    outputs kept for the run shows as one whose count grows), with the line adding to them."""
    found: dict[int, tuple[int, str, FrameType, Any]] = {}
    for frame, name, value in _user_variables():
        if type(value) in _CONTAINERS and id(value) not in found:
            items = value.values() if type(value) is dict else value
            n = sum(_tensors_in(x, kinds) for x in itertools.islice(items, MAX_ITEMS))
            if n:
                found[id(value)] = (n, name, frame, value)
    top = sorted(found.values(), key=lambda t: -t[0])[:limit]
    held = []
    for n, name, frame, value in top:
        record = {"tensors": n, **_binding(frame.f_code, name, frame.f_lineno)}
        if getattr(value, "maxlen", None) is not None:  # a deque that stops growing
            record["maxlen"], record["items"] = value.maxlen, len(value)
        held.append(record)
    return held


_CONTAINERS = (list, tuple, deque, set, dict)


def _tensors_in(item: Any, kinds: set[type]) -> int:
    """Tensors in one item of a container: a tensor, or a tuple/list of them (a replay
    buffer's transitions, (output, target) pairs)."""
    if type(item) in kinds:
        return 1
    if type(item) in (tuple, list):
        return sum(type(x) in kinds for x in item[:64])
    return 0


def _holds(value: Any, obj: Any) -> str | None:
    """'' when ``value`` is ``obj``, the container's type when it holds ``obj``, else None."""
    if value is obj:
        return ""
    if type(value) in (list, tuple, deque, set) and any(x is obj for x in value):
        return type(value).__name__
    if type(value) is dict and any(x is obj for x in value.values()):
        return "dict"
    return None


def _nested(code: CodeType) -> list[CodeType]:
    """A function's code and the code of the functions defined in it (a nested train_step
    that adds to the outer function's total)."""
    found = [code]
    for const in code.co_consts:
        if isinstance(const, CodeType):
            found += _nested(const)
    return found


_STRING = re.compile(r"""(["'])(?:\\.|(?!\1).)*\1""")


def _code_only(filename: str, line: int) -> str:
    """A source line with its string literals emptied: text is no assignment."""
    return _STRING.sub('""', linecache.getline(filename, line))


def _binding(code: CodeType, name: str, running: int) -> dict[str, Any]:
    """Where ``name`` is added to in ``code`` or a function nested in it (``name +=``,
    ``name.append(`` ...), else the line running now."""
    adds = re.compile(
        rf"\b{re.escape(name)}\s*(\+=|\.append\(|\.extend\(|\[.*\]\s*=|=\s*{re.escape(name)}\b)"
    )
    found = (code, running)
    for inner in _nested(code):
        lines = sorted({line for _, _, line in inner.co_lines() if line})
        hit = next((n for n in lines if adds.search(_code_only(inner.co_filename, n))), 0)
        if hit:
            found = (inner, hit)
            break
    where, line = found
    return {
        "name": name,
        "file": where.co_filename,
        "function": where.co_name,
        "line": line,
        "code": linecache.getline(where.co_filename, line).strip(),
    }


def tensor_types() -> set[type]:
    """torch.Tensor and every subclass defined so far (Parameter, Buffer, user subclasses)."""
    found: set[type] = set()
    stack: list[type] = [torch.Tensor]
    while stack:
        cls = stack.pop()
        if cls not in found:
            found.add(cls)
            stack.extend(cls.__subclasses__())
    return found


def scan(step: int, previous_largest: int | None = None) -> dict[str, Any]:
    """One scan of the live heap; returns the run-file record. ``previous_largest``: the
    largest graph of the previous scan, to tell whether it grew."""
    t0 = time.perf_counter()
    # type() against a set: isinstance() would call __class__ on every object, and some
    # objects (deprecated torch aliases) warn when asked.
    kinds = tensor_types()
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
            roots.append(obj)
    nodes, largest, root, ages = _graph_nodes([t.grad_fn for t in roots], MAX_GRAPH_NODES)
    record = {
        "step": step,
        "tensors": len(live),
        "tensor_bytes": sum(storages.values()),
        "grad_tensors": len(roots),
        "graph_nodes": nodes,
        "largest_graph_nodes": largest,
        "largest_graph_root": type(roots[root].grad_fn).__name__ if root >= 0 else "",
        "node_ages": ages,
    }
    if previous_largest is not None and largest >= previous_largest + HOLDER_MIN_GROWTH:
        del live
        record["largest_graph_holder"] = holder(roots[root])
    record["tensor_holders"] = tensor_holders(kinds)
    record["cost_ms"] = round((time.perf_counter() - t0) * 1e3, 3)
    return record
