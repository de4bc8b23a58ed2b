"""Probes for how the loop trains: optimizer steps, zero_grad, backward, AMP, empty_cache, eval.

Each reports to the active Session, which records the configuration once and uses
optimizer steps and backward calls as step boundaries when no decorator marks them.
"""

from __future__ import annotations

import functools

import torch
from torch.optim.optimizer import register_optimizer_step_post_hook

from perfkit.capture import guard, state
from perfkit.capture.patching import Patches

# The optimizer, zero_grad and backward probes run every step: they catch inline rather
# than through guard.call, one frame fewer each.


def _on_optimizer_step(optimizer, args, kwargs) -> None:
    sess = state.session
    if sess is not None:
        try:
            sess.on_optimizer_step(optimizer)
        except Exception as e:
            guard.internal_error("the optimizer probe", e)


def _probe_zero_grad(original):
    @functools.wraps(original)
    def zero_grad(self, *args, **kwargs):
        sess = state.session
        if sess is not None:
            try:
                sess.on_zero_grad(bool(args[0] if args else kwargs.get("set_to_none", True)))
            except Exception as e:
                guard.internal_error("the zero_grad probe", e)
        return original(self, *args, **kwargs)

    return zero_grad


def _probe_backward(original):
    @functools.wraps(original)
    def backward(*args, **kwargs):
        result = original(*args, **kwargs)
        sess = state.session
        if sess is not None:
            try:
                sess.on_backward()
            except Exception as e:
                guard.internal_error("the backward probe", e)
        return result

    return backward


def _probe_autocast_enter(original):
    @functools.wraps(original)
    def __enter__(self):
        sess = state.session
        if sess is not None:
            guard.call(
                "the autocast probe",
                sess.config.on_autocast,
                self.device,
                str(self.fast_dtype),
                bool(self._enabled),
            )
        return original(self)

    return __enter__


def _probe_scaler_scale(original):
    @functools.wraps(original)
    def scale(self, outputs):
        sess = state.session
        if sess is not None:
            guard.call("the GradScaler probe", sess.config.on_grad_scaler, bool(self.is_enabled()))
        return original(self, outputs)

    return scale


def _probe_empty_cache(original):
    @functools.wraps(original)
    def empty_cache(*args, **kwargs):
        sess = state.session
        if sess is not None:
            guard.call("the empty_cache probe", sess.recorder.on_empty_cache)
        return original(*args, **kwargs)

    return empty_cache


def _probe_train_mode(original):
    @functools.wraps(original)
    def train(self, mode=True):
        result = original(self, mode)
        sess = state.session
        if sess is not None:
            guard.call("the eval-mode probe", sess.eval_watch.on_train_mode, bool(mode))
        return result

    return train


class Handles:
    """Hook handles that must be removed with the patches."""

    def __init__(self) -> None:
        self.items: list = []

    def remove(self) -> None:
        while self.items:
            self.items.pop().remove()


def install(patches: Patches, handles: Handles) -> None:
    handles.items.append(register_optimizer_step_post_hook(_on_optimizer_step))
    patches.wrap(torch.optim.Optimizer, "zero_grad", _probe_zero_grad)
    patches.wrap(torch.nn.Module, "zero_grad", _probe_zero_grad)
    patches.wrap(torch.autograd, "backward", _probe_backward)
    patches.wrap(torch.amp.autocast_mode.autocast, "__enter__", _probe_autocast_enter)
    patches.wrap(torch.amp.GradScaler, "scale", _probe_scaler_scale)
    patches.wrap(torch.cuda, "empty_cache", _probe_empty_cache)
    patches.wrap(torch.nn.Module, "train", _probe_train_mode)
