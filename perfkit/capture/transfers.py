"""Probes for host<->device copies: Tensor.to(), .cuda(), .cpu().

The wrapper calls the original first and hands both tensors to the Session, which compares
their devices: a dtype cast or a no-op returns at once; a real copy is recorded with its
size, pinned/pageable source and non_blocking flag; on a CPU-only machine an explicit
``.to(device)`` is recorded as intent, so GPU-bound code still shows its copies.
"""

from __future__ import annotations

import functools

import torch

from perfkit.capture import guard, state
from perfkit.capture.patching import Patches

_DEVICE_TYPES = (str, torch.device, int)


def _names_device(args: tuple, kwargs: dict) -> bool:
    """Whether a .to() call names a target device (rather than only a dtype)."""
    if "device" in kwargs or "other" in kwargs:
        return True
    return bool(args) and isinstance(args[0], (*_DEVICE_TYPES, torch.Tensor))


def _non_blocking(args: tuple, kwargs: dict) -> bool:
    if "non_blocking" in kwargs:
        return bool(kwargs["non_blocking"])
    # to(device, dtype, non_blocking, copy): the first positional bool is non_blocking.
    return next((a for a in args if isinstance(a, bool)), False)


def _probe_to(original):
    @functools.wraps(original)
    def to(self, *args, **kwargs):
        out = original(self, *args, **kwargs)
        sess = state.session
        if sess is not None and not state.guard and _names_device(args, kwargs):
            try:
                sess.recorder.on_transfer(self, out, _non_blocking(args, kwargs), "to")
            except Exception as e:
                guard.internal_error("the transfer probe", e)
        return out

    return to


def _probe_move(method: str, original):
    """.cuda() and .cpu(): always a move, even without arguments."""

    @functools.wraps(original)
    def move(self, *args, **kwargs):
        out = original(self, *args, **kwargs)
        sess = state.session
        if sess is not None and not state.guard:
            try:
                sess.recorder.on_transfer(self, out, _non_blocking(args, kwargs), method)
            except Exception as e:
                guard.internal_error("the transfer probe", e)
        return out

    return move


def install(patches: Patches) -> None:
    patches.wrap(torch.Tensor, "to", _probe_to)
    patches.wrap(torch.Tensor, "cuda", lambda orig: _probe_move("cuda", orig))
    patches.wrap(torch.Tensor, "cpu", lambda orig: _probe_move("cpu", orig))
