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

import sys
import weakref
from types import FrameType
from typing import Any

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten

from perfkit.capture import state
from perfkit.capture.callsite import USER, SiteKey, first_user_frame, kind_of, site_key

_MODULE_FILE = torch.nn.modules.module.__file__
_CALL_IMPL_NAMES = {"_call_impl", "_wrapped_call_impl"}
# How many of the most-visited user lines the record keeps.
HOT_LINES = 5
# Data-parallel wrappers, however they are called.
_WRAPPERS = (torch.nn.DataParallel, torch.nn.parallel.DistributedDataParallel)


class _WatchOps(TorchDispatchMode):
    """Counts the step's ops (and those run by backward), visits per user line, and which
    tensors derive from device data.

    A "visit" is an op from a different (frame, bytecode offset, call from user code) than
    the previous one: ``opt.step()`` is one visit however many ops it runs inside, while a
    line in a per-sample Python loop, or a loop over layers, is visited once per
    iteration — the launch-bound signature.
    """

    @classmethod
    def _should_skip_dynamo(cls) -> bool:
        # torch wraps __torch_dispatch__ in dynamo's disable(), whose first call imports
        # torch._dynamo: 1-1.6 s in a script that never compiles. This mode never runs
        # under compilation, so it asks for no wrapping.
        return False

    def __init__(self) -> None:
        super().__init__()
        self.ops = 0
        self.backward_ops = 0
        self.lines: dict[tuple, list[int]] = {}  # site -> [visits, ops]
        self._last: tuple[int, int, int] = (0, -1, 0)
        # Calls made from user code so far (counted by the probe's profile hook): a loop
        # whose body is one call (`for layer in layers: x = layer(x)`) runs the same
        # instruction each time, and only a new call tells its iterations apart.
        self.user_calls = 0
        # id -> weak reference of tensors derived from device data (tensors are unhashable
        # by value and cannot live in a WeakSet).
        self._device: dict[int, weakref.ref] = {}

    def is_device_data(self, t: torch.Tensor) -> bool:
        if t.device.type != "cpu" or t.requires_grad or t.grad_fn is not None:
            return True
        ref = self._device.get(id(t))
        return ref is not None and ref() is t

    def mark_device_data(self, t: torch.Tensor) -> None:
        key = id(t)
        self._device[key] = weakref.ref(t, lambda _, key=key: self._device.pop(key, None))

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        if func.namespace == "profiler":
            return out  # record_function markers, not work
        # Ops inside a DataLoader fetch are host-side data preparation, not device launches.
        if state.fetching:
            return out
        inputs, _ = tree_flatten((args, kwargs))
        outputs = [t for t in tree_flatten(out)[0] if isinstance(t, torch.Tensor)]
        on_device = any(isinstance(t, torch.Tensor) and self.is_device_data(t) for t in inputs)
        if not on_device and not any(t.device.type != "cpu" for t in outputs):
            return out  # index and bookkeeping work on host data: no launch on a GPU run
        for t in outputs:
            self.mark_device_data(t)
        self.ops += 1
        if torch._C._current_autograd_node() is not None:
            self.backward_ops += 1
        frame = first_user_frame(sys._getframe(1))
        if frame is not None:
            slot = self.lines.setdefault(site_key(frame), [0, 0])
            here = (id(frame), frame.f_lasti, self.user_calls)
            if here != self._last:
                slot[0] += 1
                self._last = here
            slot[1] += 1
        return out


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
        # Scalar-read sites seen in this step -> whether any read there was of device data.
        self.read_sites: dict[SiteKey, bool] = {}
        self._previous_profile = None

    def __enter__(self) -> StepProbe:
        self._previous_profile = sys.getprofile()
        sys.setprofile(self._on_event)
        self._ops.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self._ops.__exit__(None, None, None)
        sys.setprofile(self._previous_profile)

    def mark_device_data(self, t: torch.Tensor) -> None:
        """A ``.to(device)`` result on a CPU-only run: where a GPU run keeps its data."""
        self._ops.mark_device_data(t)

    def is_device_data(self, t: torch.Tensor) -> bool:
        return self._ops.is_device_data(t)

    def on_scalar_read(self, t: torch.Tensor, site: SiteKey) -> None:
        self.read_sites[site] = self.read_sites.get(site, False) or self._ops.is_device_data(t)

    def _on_event(self, frame: FrameType, event: str, arg: Any) -> None:
        if event == "c_call":
            if kind_of(frame.f_code) == USER:
                self._ops.user_calls += 1
            return
        if event == "call" and frame.f_back is not None and kind_of(frame.f_back.f_code) == USER:
            self._ops.user_calls += 1
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

    def record(self, sites) -> dict[str, Any]:
        lines = self._ops.lines
        hot = sorted(lines.items(), key=lambda kv: -kv[1][0])[:HOT_LINES]
        return {
            "step": self.step,
            "torch_calls": self._ops.ops,
            "backward_ops": self._ops.backward_ops,
            "hot_lines": [
                {"site": sites.index(k), "visits": v, "calls": c} for k, (v, c) in hot if v > 1
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
    typical = new if (new["torch_calls"] or 0) < (kept["torch_calls"] or 0) else kept

    def union(key: str, ident: str) -> list[dict[str, Any]]:
        seen = {e[ident]: e for e in kept[key]}
        for e in new[key]:
            seen.setdefault(e[ident], e)
        return list(seen.values())

    device_read = set(kept.get("device_read_sites", [])) | set(new.get("device_read_sites", []))
    host = (set(kept["host_read_sites"]) | set(new["host_read_sites"])) - device_read
    return {
        **typical,
        "steps": sorted({*kept.get("steps", [kept["step"]]), new["step"]}),
        "root_modules": union("root_modules", "type"),
        "wrappers": union("wrappers", "type"),
        "direct_forward": union("direct_forward", "site"),
        "host_read_sites": sorted(host),
        "device_read_sites": sorted(device_read),
    }
