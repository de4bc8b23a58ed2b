"""One sampled step watched closely: direct ``module.forward()`` calls, model wrappers, op count.

Run once per session (expensive probes never run every step). While it runs:

- ``sys.setprofile`` sees every Python call. A call to a module's ``forward`` made by
  ``Module.__call__`` is normal; one made from user code bypasses hooks (``model.forward(x)``)
  and is recorded at the calling line. A ``super().forward(x)`` inside the same module's
  forward is not a bypass and is skipped.
- Modules entered through ``__call__`` with no module forward open above them are the
  roots; their type tells DataParallel/DistributedDataParallel apart from a plain model.
- A ``TorchFunctionMode`` counts torch calls, and for each user line how many separate
  times it issued them: the evidence for launch-bound steps (a per-sample Python loop).
"""

from __future__ import annotations

import sys
from types import FrameType
from typing import Any

import torch
from torch.overrides import TorchFunctionMode

from perfkit.capture import state
from perfkit.capture.callsite import TORCH, first_user_frame, kind_of, site_key

_MODULE_FILE = torch.nn.modules.module.__file__
_CALL_IMPL_NAMES = {"_call_impl", "_wrapped_call_impl"}
# How many of the most-visited user lines the record keeps.
HOT_LINES = 5
# Data-parallel wrappers, however they are called.
_WRAPPERS = (torch.nn.DataParallel, torch.nn.parallel.DistributedDataParallel)


class _CountCalls(TorchFunctionMode):
    """Counts torch calls, and per user line how many separate times it issued them.

    A "visit" is a torch call from a different (frame, bytecode offset) than the previous
    one: ``opt.step()`` is one visit however many ops it runs inside, while a line in a
    per-sample Python loop is visited once per iteration — the launch-bound signature.
    """

    def __init__(self) -> None:
        super().__init__()
        self.calls = 0
        self.lines: dict[tuple, list[int]] = {}  # site -> [visits, calls]
        self._last: tuple[int, int] = (0, -1)

    def __torch_function__(self, func, types, args=(), kwargs=None):
        self.calls += 1
        # Ops inside a DataLoader fetch are host-side data preparation, not device launches.
        frame = None if state.fetching else first_user_frame(sys._getframe(1))
        if frame is not None:
            slot = self.lines.setdefault(site_key(frame), [0, 0])
            here = (id(frame), frame.f_lasti)
            if here != self._last:
                slot[0] += 1
                self._last = here
            slot[1] += 1
        # func may be one of perfkit's own probed methods: the outer call already counted.
        state.guard += 1
        try:
            return func(*args, **(kwargs or {}))
        finally:
            state.guard -= 1


def _via_call(frame: FrameType) -> bool:
    code = frame.f_code
    return code.co_name in _CALL_IMPL_NAMES and code.co_filename == _MODULE_FILE


class StepProbe:
    """Context manager wrapping one step; results in ``record``."""

    def __init__(self, step: int, count_calls: bool = True) -> None:
        self.step = step
        self.direct: dict[tuple, dict[str, Any]] = {}
        self.roots: dict[str, int] = {}
        self.wrappers: dict[str, int] = {}
        self._open_forwards: list[FrameType] = []  # module forwards entered via __call__
        # A TorchFunctionMode must be exited where it was entered, outside any torch
        # function; a step cut by backward() calls ends inside one, so it goes uncounted.
        self._counter = _CountCalls() if count_calls else None
        self._previous_profile = None

    def __enter__(self) -> StepProbe:
        self._previous_profile = sys.getprofile()
        sys.setprofile(self._on_event)
        if self._counter is not None:
            self._counter.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._counter is not None:
            self._counter.__exit__(None, None, None)
        sys.setprofile(self._previous_profile)

    def _on_event(self, frame: FrameType, event: str, arg: Any) -> None:
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
        if kind_of(parent.f_code) == TORCH:
            return  # torch internals (checkpointing, wrappers) call forward on purpose
        entry = self.direct.setdefault(
            site_key(first_user_frame(parent)), {"module": type(module).__name__, "count": 0}
        )
        entry["count"] += 1
        self._open_forwards.append(frame)  # its submodules are not roots

    def record(self, sites) -> dict[str, Any]:
        lines = self._counter.lines if self._counter is not None else {}
        hot = sorted(lines.items(), key=lambda kv: -kv[1][0])[:HOT_LINES]
        return {
            "step": self.step,
            "torch_calls": self._counter.calls if self._counter is not None else None,
            "hot_lines": [
                {"site": sites.index(k), "visits": v, "calls": c} for k, (v, c) in hot if v > 1
            ],
            "root_modules": [{"type": t, "calls": n} for t, n in self.roots.items()],
            "wrappers": [{"type": t, "calls": n} for t, n in self.wrappers.items()],
            "direct_forward": [
                {"site": sites.index(k), "module": v["module"], "count": v["count"]}
                for k, v in self.direct.items()
            ],
        }
