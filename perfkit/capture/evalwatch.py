"""Watch forward passes of modules in eval mode: were they run with grad enabled?

Global forward hooks cost a little on every module call, so they are installed only while
some module is in eval mode (``model.eval()`` until ``model.train()``). Only the outermost
module call of a forward pass is counted, at the user's line that made it.
"""

from __future__ import annotations

from typing import Any

import torch
from torch.nn.modules.module import (
    register_module_forward_hook,
    register_module_forward_pre_hook,
)

from perfkit.capture import guard
from perfkit.capture.callsite import caller, site_key
from perfkit.capture.records import SiteTable, site_counts
from perfkit.runmodel import EvalForwards


class EvalWatch:
    def __init__(self) -> None:
        self.with_grad = 0
        self.without_grad = 0
        self.sites: dict[tuple, int] = {}
        self.modules: dict[str, int] = {}
        self._depth = 0
        self._handles: list = []

    def on_train_mode(self, training: bool) -> None:
        if not training and not self._handles:
            self._handles = [
                register_module_forward_pre_hook(self._pre),
                register_module_forward_hook(self._post, always_call=True),
            ]
        elif training and self._handles:
            self.stop()

    def stop(self) -> None:
        for h in self._handles:
            h.remove()
        self._handles = []
        self._depth = 0

    def _pre(self, module: torch.nn.Module, args: Any) -> None:
        if self._depth == 0 and not module.training:
            guard.call("the eval-mode probe", self._count, module)
        self._depth += 1

    def _count(self, module: torch.nn.Module) -> None:
        """One outermost forward of a module in eval mode."""
        if not torch.is_grad_enabled():
            self.without_grad += 1
            return
        self.with_grad += 1
        key = site_key(caller()[1])
        self.sites[key] = self.sites.get(key, 0) + 1
        name = type(module).__name__
        self.modules[name] = self.modules.get(name, 0) + 1

    def _post(self, module: torch.nn.Module, args: Any, output: Any) -> None:
        self._depth = max(0, self._depth - 1)

    def record(self, sites: SiteTable) -> EvalForwards:
        return EvalForwards(
            forwards_with_grad=self.with_grad,
            forwards_without_grad=self.without_grad,
            modules_with_grad=dict(self.modules),
            sites=site_counts(self.sites, sites),
        )
