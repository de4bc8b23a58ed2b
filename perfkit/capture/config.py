"""Configuration seen while training: optimizers, zero_grad, AMP, backend flags.

Recorded once per object (or counted), never per parameter: an optimizer's settings are
read on its first step, flags are read when the run file is written.
"""

from __future__ import annotations

from typing import Any

import torch

from perfkit.capture.callsite import SiteKey
from perfkit.capture.records import SiteTable, site_counts
from perfkit.runmodel import Config, LoaderConfig, OptimizerConfig, ZeroGrad


def _flag(value: Any) -> bool | None:
    """An optimizer's flag as set (None: left to torch); third-party ones may use 0/1."""
    return None if value is None else bool(value)


def _optimizer_settings(opt: torch.optim.Optimizer) -> dict[str, Any]:
    params = [p for g in opt.param_groups for p in g["params"]]
    defaults = opt.defaults
    return {
        "type": f"{type(opt).__module__}.{type(opt).__qualname__}",
        # None means torch picks foreach when it can; False forces the per-tensor loop.
        "foreach": _flag(defaults.get("foreach")),
        "fused": _flag(defaults.get("fused")),
        "capturable": _flag(defaults.get("capturable")),
        "param_tensors": len(params),
        "param_devices": sorted({str(p.device) for p in params}),
        "lr": defaults.get("lr") if isinstance(defaults.get("lr"), (int, float)) else None,
        "steps": 0,
    }


class ConfigRecorder:
    def __init__(self) -> None:
        self.optimizers: dict[int, dict[str, Any]] = {}
        self.first_optimizer: int | None = None
        self.zero_grad = {"set_to_none": 0, "fill_zero": 0}
        self.zero_grad_fill_sites: dict[SiteKey, int] = {}
        self.autocast: dict[str, int] = {}
        self.grad_scaler = {"calls": 0, "enabled": 0}

    def on_optimizer_step(self, opt: torch.optim.Optimizer) -> int | None:
        """Count the step; returns the id of the first optimizer that ever stepped."""
        key = id(opt)
        settings = self.optimizers.get(key)
        if settings is None:
            settings = self.optimizers[key] = _optimizer_settings(opt)
            if self.first_optimizer is None:
                self.first_optimizer = key
        settings["steps"] += 1
        return self.first_optimizer

    def on_zero_grad(self, set_to_none: bool, site: SiteKey | None) -> None:
        self.zero_grad["set_to_none" if set_to_none else "fill_zero"] += 1
        if site is not None:
            self.zero_grad_fill_sites[site] = self.zero_grad_fill_sites.get(site, 0) + 1

    def on_autocast(self, device: str, dtype: str, enabled: bool) -> None:
        key = f"{device}:{dtype}" if enabled else f"{device}:disabled"
        self.autocast[key] = self.autocast.get(key, 0) + 1

    def on_grad_scaler(self, enabled: bool) -> None:
        self.grad_scaler["calls"] += 1
        self.grad_scaler["enabled"] += enabled

    def record(self, sites: SiteTable, loaders: tuple[LoaderConfig, ...]) -> Config:
        cudnn = torch.backends.cudnn
        return Config(
            optimizers=tuple(
                OptimizerConfig(**{**s, "param_devices": tuple(s["param_devices"])})
                for s in list(self.optimizers.values())
            ),
            zero_grad=ZeroGrad(
                **self.zero_grad, fill_zero_sites=site_counts(self.zero_grad_fill_sites, sites)
            ),
            autocast=dict(self.autocast),
            grad_scaler=dict(self.grad_scaler),
            dataloaders=loaders,
            backends={
                "cudnn_enabled": bool(cudnn.enabled),
                "cudnn_benchmark": bool(cudnn.benchmark),
                "cudnn_deterministic": bool(cudnn.deterministic),
                "cudnn_allow_tf32": bool(cudnn.allow_tf32),
                "matmul_allow_tf32": bool(torch.backends.cuda.matmul.allow_tf32),
                "float32_matmul_precision": torch.get_float32_matmul_precision(),
            },
        )
