"""One sampled step watched closely: direct ``module.forward()`` calls, model wrappers, op
counts and where the step's scalar reads come from.

Run once per session (expensive probes never run every step). While it runs:

- ``sys.setprofile`` sees every Python call. A call to a module's ``forward`` made by
  ``Module.__call__`` is normal; one made from user code bypasses hooks (``model.forward(x)``)
  and is recorded at the calling line. A ``super().forward(x)`` inside the same module's
  forward is not a bypass and is skipped.
- Modules entered through ``__call__`` with no module forward open above them are the
  roots; their type tells DataParallel/DistributedDataParallel apart from a plain model.
- A ``TorchDispatchMode`` sees every op the step runs, forward, backward and optimizer
  alike, and follows where tensors come from: an op's outputs are "device data" when one
  of its inputs is (parameters, anything that requires grad, a ``.to(device)`` result, a
  tensor on a GPU).
- The ops on device data are counted: the evidence for launch-bound steps (each is a
  dispatch and, on a GPU, a kernel launch). Index and bookkeeping ops on host data are
  not. For each user line it also counts how many separate times the line issued ops (a
  per-sample Python loop visits its line once per iteration).
- A scalar read of a tensor that never touched device data — an index drawn with
  ``torch.randint`` on the host to slice a numpy array — would not wait for a GPU either,
  so its line is recorded as host-only and not counted as a sync.
"""

from __future__ import annotations

import functools
import gc
import os
import sys
import weakref
from types import FrameType
from typing import Any

import torch
from torch.optim.optimizer import register_optimizer_step_pre_hook
from torch.utils._python_dispatch import TorchDispatchMode, _get_current_dispatch_mode_stack
from torch.utils._pytree import tree_flatten

from perfkit.capture import state
from perfkit.capture.callsite import PERFKIT, USER, SiteKey, first_user_frame, kind_of, site_key
from perfkit.capture.graphscan import tensor_types


def _forget(table: dict[int, weakref.ref], key: int, _ref: weakref.ref) -> None:
    """A watched tensor died: its id may be reused by a new one."""
    table.pop(key, None)


_MODULE_FILE = torch.nn.modules.module.__file__
_CALL_IMPL_NAMES = {"_call_impl", "_wrapped_call_impl"}
# How many of the most-visited user lines the record keeps.
HOT_LINES = 5
# torch's Python called from the dispatcher (rule lookups, mode handling), not by users.
_DISPATCH_MACHINERY = tuple(
    os.path.join(os.path.dirname(torch.__file__), *part)
    for part in (("_ops.py",), ("_library",), ("utils", "_python_dispatch.py"), ("overrides.py",))
)
# Data-parallel wrappers, however they are called.
_WRAPPERS = (torch.nn.DataParallel, torch.nn.parallel.DistributedDataParallel)


class _WatchOps(TorchDispatchMode):
    """Counts the step's ops on device data (and those run by backward), the ops each user
    line issued, and where tensors come from.

    Provenance: an op's outputs are device data when one of its inputs is; they are host
    data when every input is host data (or it has none: ``torch.randint``, ``from_numpy``).
    A tensor made before the probe began is of unknown origin and taken as device data —
    a script that built its tensors with ``device=device`` up front syncs on a GPU.
    """

    @classmethod
    def _should_skip_dynamo(cls) -> bool:
        # torch wraps __torch_dispatch__ in dynamo's disable(), whose first call imports
        # torch._dynamo: 1-1.6 s in a script that never compiles. The probe never runs
        # while compiled code does (see compiled_code_ran), so it asks for no wrapping.
        return False

    def __init__(self) -> None:
        super().__init__()
        self.ops = 0
        self.backward_ops = 0
        self.optimizer_ops = 0
        self.in_optimizer = False  # set around optimizer.step() by the probe's hooks
        self.line_ops: dict[SiteKey, int] = {}
        # id -> weak reference of tensors seen to come from host data only, and of tensors
        # seen to come from device data (tensors are unhashable by value: no WeakSet).
        self._host: dict[int, weakref.ref] = {}
        self._device: dict[int, weakref.ref] = {}
        # Made during the probe from tensors of unknown origin (made before it).
        self._unknown: dict[int, weakref.ref] = {}
        self.before: set[int] = set()

    @staticmethod
    def _known(table: dict[int, weakref.ref], t: torch.Tensor) -> bool:
        ref = table.get(id(t))
        return ref is not None and ref() is t

    def is_device_data(self, t: torch.Tensor) -> bool:
        """Device data, or of unknown origin (made before the probe: a script that built
        its tensors with ``device=device`` up front syncs on them on a GPU). A tensor born
        during the probe outside any op (``torch.from_numpy``) is host data."""
        if self.seen_on_device(t) or self._known(self._unknown, t):
            return True
        return not self._known(self._host, t) and id(t) in self.before

    def snapshot(self) -> None:
        """Remember which tensors exist as the probe starts (ids; no reference is kept)."""
        kinds = tensor_types()
        self.before = {id(obj) for obj in gc.get_objects() if type(obj) in kinds}

    def seen_on_device(self, t: torch.Tensor) -> bool:
        """Known to come from device data: on a GPU, parameters, grads, ``.to(device)``."""
        if t.device.type != "cpu" or t.requires_grad or t.grad_fn is not None:
            return True
        return self._known(self._device, t)

    def mark_device_data(self, t: torch.Tensor) -> None:
        """A ``.to(device)`` result on a CPU-only run: where a GPU run keeps its data."""
        self._host.pop(id(t), None)
        self._remember(self._device, t)

    def _remember(self, table: dict[int, weakref.ref], t: torch.Tensor) -> None:
        key = id(t)
        table[key] = weakref.ref(t, functools.partial(_forget, table, key))

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        if func.namespace == "profiler":
            return out  # record_function markers, not work
        inputs = [t for t in tree_flatten((args, kwargs))[0] if isinstance(t, torch.Tensor)]
        outputs = [t for t in tree_flatten(out)[0] if isinstance(t, torch.Tensor)]
        if not any(self.is_device_data(t) for t in inputs) and all(
            t.device.type == "cpu" for t in outputs
        ):
            # Index and bookkeeping work on host data (or DataLoader preparation): no
            # launch on a GPU run, and its results are host data too.
            for t in outputs:
                self._device.pop(id(t), None)
                self._unknown.pop(id(t), None)
                self._remember(self._host, t)
            return out
        if state.fetching:
            return out  # data preparation in a DataLoader fetch, not a device launch
        table = self._device if any(self.seen_on_device(t) for t in inputs) else self._unknown
        for t in outputs:
            self._host.pop(id(t), None)  # an in-place op on host data now holds device data
            self._remember(table, t)
        self.ops += 1
        if torch._C._current_autograd_node() is not None:
            self.backward_ops += 1
        elif self.in_optimizer:
            self.optimizer_ops += 1
        frame = first_user_frame(sys._getframe(1))
        if frame is not None:
            key = site_key(frame)
            self.line_ops[key] = self.line_ops.get(key, 0) + 1
        return out


def compiled_code_ran() -> bool:
    """Whether torch.compile has compiled anything in this process: a dispatch mode pushed
    around compiled code makes dynamo fall back to eager for good, so the probe would change
    the program it measures."""
    dynamo = sys.modules.get("torch._dynamo.utils")
    counters = getattr(dynamo, "counters", None)
    try:
        return bool(counters and counters["stats"].get("unique_graphs", 0))
    except (KeyError, TypeError, AttributeError):
        return True  # unknown: be careful


def dispatch_modes_active() -> bool:
    """Whether the user has a TorchDispatchMode of their own on (FlopCounterMode ...)."""
    try:
        return bool(_get_current_dispatch_mode_stack())
    except Exception:
        return True


class _Inert(_WatchOps):
    """A probe's mode left below one of the user's: it passes every op through untouched
    until the user's mode is gone and it can be popped (release_stranded)."""

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        return func(*args, **(kwargs or {}))


# Probe modes left below a mode of the user's (checked at every step boundary: keep cheap).
STRANDED: list[_WatchOps] = []


def release_stranded() -> None:
    """Pop the probe modes left below a mode of the user's, once they are on top again."""
    while STRANDED and _get_current_dispatch_mode_stack()[-1:] == [STRANDED[-1]]:
        STRANDED.pop().__exit__(None, None, None)


def _via_call(frame: FrameType) -> bool:
    code = frame.f_code
    return code.co_name in _CALL_IMPL_NAMES and code.co_filename == _MODULE_FILE


class StepProbe:
    """Context manager wrapping one step; results in ``record``."""

    def __init__(self, step: int) -> None:
        self.step = step
        self.direct: dict[tuple, dict[str, Any]] = {}
        self.roots: dict[str, int] = {}
        self.wrappers: dict[str, int] = {}
        self._open_forwards: list[FrameType] = []  # module forwards entered via __call__
        self._ops = _WatchOps()
        # Why ops were not watched ("" when they were): never around compiled code or
        # inside a dispatch mode of the user's own, whose stack must stay as it is.
        self.skipped = ""
        self._pushed = False
        self._hooks: list = []
        # Scalar-read sites seen in this step -> whether any read there was of device data.
        self.read_sites: dict[SiteKey, bool] = {}
        # Calls made from each user line, per callee: a line in a loop calls the same
        # function once per iteration (``x = layer(x)``, ``model(x[i:i+1])``).
        self._line_calls: dict[SiteKey, dict[Any, int]] = {}
        # Distinct modules each user line called: a loop over layers calls a new one each
        # time (its parameters, and the optimizer's work, shrink with the loop too).
        self._line_modules: dict[SiteKey, set[int]] = {}
        self.backward_calls = 0
        self._previous_profile = None
        self._profiling = False

    def __enter__(self) -> StepProbe:
        previous = sys.getprofile()
        if previous is None:  # a profiler of the user's own (cProfile) is left alone
            self._previous_profile = previous
            sys.setprofile(self._on_event)
            self._profiling = True
        if compiled_code_ran():
            self.skipped = "torch.compile is in use; the op-counting mode would change it"
        elif dispatch_modes_active():
            self.skipped = "a TorchDispatchMode of the script's own was active"
        else:
            self._ops.snapshot()
            self._ops.__enter__()
            self._pushed = True
            # Only while probing: other steps pay nothing for telling optimizer ops apart.
            # (A pre-hook only: the probe may end inside the post-hooks, which torch is
            # iterating then; the session's post-hook calls optimizer_done instead.)
            self._hooks = [register_optimizer_step_pre_hook(self._optimizer_starts)]
        return self

    def _optimizer_starts(self, optimizer, args, kwargs) -> None:
        self._ops.in_optimizer = True

    def optimizer_done(self) -> None:
        self._ops.in_optimizer = False

    def __exit__(self, *exc: object) -> None:
        while self._hooks:
            self._hooks.pop().remove()
        if self._pushed:
            self._pushed = False
            if _get_current_dispatch_mode_stack()[-1:] == [self._ops]:
                self._ops.__exit__(None, None, None)
            else:  # the user pushed a mode of their own since: theirs stays on top
                self.skipped = "a TorchDispatchMode of the script's own opened during the step"
                self._ops.__class__ = _Inert
                STRANDED.append(self._ops)
        if self._profiling and sys.getprofile() == self._on_event:
            sys.setprofile(self._previous_profile)
        self._profiling = False

    def mark_device_data(self, t: torch.Tensor) -> None:
        """A ``.to(device)`` result on a CPU-only run: where a GPU run keeps its data."""
        self._ops.mark_device_data(t)

    def is_device_data(self, t: torch.Tensor) -> bool:
        return self._ops.is_device_data(t)

    def seen_on_device(self, t: torch.Tensor) -> bool:
        return self._pushed and self._ops.seen_on_device(t)

    def on_scalar_read(self, t: torch.Tensor, site: SiteKey, implicit: bool = False) -> None:
        """A scalar read at ``site`` on a CPU-only run: of device data (a sync on a GPU run)
        or of host data? With the mode pushed, where ``t`` came from says. Without it (the
        ops were not followed: torch.compile) a tensor with autograd history still comes
        from the parameters. One without it while grad is enabled does not (under no_grad a
        model's output has none either): read ``implicit``-ly (used as an index, or inside
        a library: numpy slicing with an index drawn on the host), it is not claimed as
        device data; an explicit read of it (``x.item()``) stays unknown, and counted."""
        if self._pushed:
            device = self._ops.is_device_data(t)
        elif t.requires_grad or t.grad_fn is not None:
            device = True
        elif implicit and torch.is_grad_enabled():
            device = False
        else:
            return
        self.read_sites[site] = self.read_sites.get(site, False) or device

    def _on_event(self, frame: FrameType, event: str, arg: Any) -> None:
        if event == "c_call":
            if kind_of(frame.f_code) == USER:
                self._count_call(frame, getattr(arg, "__qualname__", None) or id(arg))
            return
        if event == "call":
            parent = frame.f_back
            # perfkit's own frames and torch's dispatch machinery run from C inside an op;
            # their frame's caller looks like the user's line but they are no call of it.
            if (
                parent is not None
                and kind_of(parent.f_code) == USER
                and kind_of(frame.f_code) != PERFKIT
                and not frame.f_code.co_filename.startswith(_DISPATCH_MACHINERY)
            ):
                self._count_call(parent, frame.f_code)
                if frame.f_code.co_name in _CALL_IMPL_NAMES:
                    module = frame.f_locals.get("self")
                    key = (parent.f_code, parent.f_lineno)
                    self._line_modules.setdefault(key, set()).add(id(module))
        if frame.f_code.co_name != "forward":
            return
        if event == "return":
            if self._open_forwards and self._open_forwards[-1] is frame:
                self._open_forwards.pop()
            return
        if event != "call":
            return
        module = frame.f_locals.get("self")
        if not isinstance(module, torch.nn.Module):
            return
        if isinstance(module, _WRAPPERS):
            name = type(module).__name__
            self.wrappers[name] = self.wrappers.get(name, 0) + 1
        parent = frame.f_back
        if parent is None:
            return
        if _via_call(parent):
            if not self._open_forwards:
                name = f"{type(module).__module__}.{type(module).__qualname__}"
                self.roots[name] = self.roots.get(name, 0) + 1
            self._open_forwards.append(frame)
            return
        if parent.f_code.co_name == "forward" and parent.f_locals.get("self") is module:
            return  # super().forward(x) from the module's own forward
        if kind_of(parent.f_code) != USER:
            return  # torch and libraries (checkpointing, Lightning, transformers) do it on purpose
        entry = self.direct.setdefault(
            site_key(first_user_frame(parent)), {"module": type(module).__name__, "count": 0}
        )
        entry["count"] += 1
        self._open_forwards.append(frame)  # its submodules are not roots

    def _count_call(self, caller: FrameType, callee: Any) -> None:
        calls = self._line_calls.setdefault((caller.f_code, caller.f_lineno), {})
        calls[callee] = calls.get(callee, 0) + 1

    def record(self, sites) -> dict[str, Any]:
        # A line's visits: the most calls it made to one function, i.e. its iterations.
        lines = [
            (key, max(self._line_calls.get(key, {}).values(), default=1), ops)
            for key, ops in self._ops.line_ops.items()
        ]
        hot = sorted(lines, key=lambda t: -t[1])[:HOT_LINES]
        watched = self._pushed or not self.skipped
        return {
            "step": self.step,
            "steps": [self.step],
            "torch_calls": self._ops.ops if watched else None,
            "backward_ops": self._ops.backward_ops if watched else None,
            "backward_calls": self.backward_calls,
            "ops_skipped": self.skipped,
            "optimizer_ops": self._ops.optimizer_ops if watched else None,
            "hot_lines": [
                {
                    "site": sites.index(k),
                    "visits": v,
                    "calls": c,
                    "modules": len(self._line_modules.get(k, ())),
                }
                for k, v, c in hot
                if v > 1
            ],
            "root_modules": [{"type": t, "calls": n} for t, n in self.roots.items()],
            "wrappers": [{"type": t, "calls": n} for t, n in self.wrappers.items()],
            "direct_forward": [
                {"site": sites.index(k), "module": v["module"], "count": v["count"]}
                for k, v in self.direct.items()
            ],
            "host_read_sites": sorted(
                sites.index(k) for k, device in self.read_sites.items() if not device
            ),
            "device_read_sites": sorted(
                sites.index(k) for k, device in self.read_sites.items() if device
            ),
        }


def merge_records(kept: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """Two probe steps as one record: op counts from the typical step (the one with fewer
    ops: the other ran extra work, an evaluation or a callback), the rest from both."""
    if not kept:
        return new

    def ops(record: dict[str, Any]) -> float:
        return record["torch_calls"] if record["torch_calls"] is not None else float("inf")

    typical = new if ops(new) < ops(kept) else kept

    def union(key: str, ident: str) -> list[dict[str, Any]]:
        seen = {e[ident]: e for e in kept[key]}
        for e in new[key]:
            seen.setdefault(e[ident], e)
        return list(seen.values())

    device_read = set(kept.get("device_read_sites", [])) | set(new.get("device_read_sites", []))
    host = (set(kept["host_read_sites"]) | set(new["host_read_sites"])) - device_read
    return {
        **typical,
        "steps": sorted({*kept["steps"], *new["steps"]}),
        "root_modules": union("root_modules", "type"),
        "wrappers": union("wrappers", "type"),
        "direct_forward": union("direct_forward", "site"),
        "host_read_sites": sorted(host),
        "device_read_sites": sorted(device_read),
    }
