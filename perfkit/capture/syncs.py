"""Probes for device->host synchronisation: .item(), .tolist(), .numpy(), print(t), bool(t) ...

Each probed Tensor method is replaced by a thin wrapper that costs nothing where it is not
called. The Session decides whether a call is a sync (a tensor on an accelerator, or any
user call on a CPU-only machine, where it would sync on a GPU) and where to attribute it.
"""

from __future__ import annotations

import functools

import torch

from perfkit.capture import guard, state
from perfkit.capture.patching import Patches

# Tensor methods that copy a value to the host and so wait for the device. The names are
# the sync kinds recorded in the run file.
TENSOR_SYNC_METHODS = {
    "item": "item",
    "tolist": "tolist",
    "numpy": "numpy",
    "__bool__": "bool",
    "__float__": "float",
    "__int__": "int",
    "__index__": "index",
    "__repr__": "print",
    "__format__": "print",
    # Data-dependent output shapes: the host must learn the size before going on.
    "nonzero": "nonzero",
    "unique": "unique",
    "masked_select": "masked_select",
}


def _probe_tensor_method(kind: str, original):
    @functools.wraps(original)
    def probed(self, *args, **kwargs):
        sess = state.session
        if sess is None or state.guard:
            return original(self, *args, **kwargs)
        try:
            sess.recorder.on_tensor_sync(self, kind)
        except Exception as e:
            guard.internal_error("the sync probe", e)
        state.guard += 1
        try:
            return original(self, *args, **kwargs)
        finally:
            state.guard -= 1

    return probed


def _probe_sync_call(kind: str, original):
    @functools.wraps(original)
    def probed(*args, **kwargs):
        sess = state.session
        if sess is not None and not state.guard:
            try:
                sess.recorder.on_explicit_sync(kind)
            except Exception as e:
                guard.internal_error("the sync probe", e)
        return original(*args, **kwargs)

    return probed


def install(patches: Patches) -> None:
    for name, kind in TENSOR_SYNC_METHODS.items():
        patches.wrap(torch.Tensor, name, functools.partial(_probe_tensor_method, kind))
    patches.wrap(torch.cuda, "synchronize", lambda orig: _probe_sync_call("synchronize", orig))
    for cls in (torch.cuda.Stream, torch.cuda.Event):
        patches.wrap(cls, "synchronize", lambda orig: _probe_sync_call("synchronize", orig))
