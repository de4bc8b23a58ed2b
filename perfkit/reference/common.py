"""Pieces both reference presets share: device choice, model wrapping, optimizer, AMP."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

import torch
from torch import nn


def distributed() -> bool:
    return torch.distributed.is_available() and torch.distributed.is_initialized()


def pick_device() -> torch.device:
    if not torch.cuda.is_available():
        return torch.device("cpu")
    if distributed():
        local_rank = int(os.environ.get("LOCAL_RANK", "0"))
        torch.cuda.set_device(local_rank)
        return torch.device("cuda", local_rank)
    return torch.device("cuda")


def prepare_model(model: nn.Module, device: torch.device, inject: frozenset[str]) -> nn.Module:
    model = model.to(device)
    if distributed():
        from torch.nn.parallel import DistributedDataParallel

        ids = [device.index] if device.type == "cuda" else None
        return DistributedDataParallel(model, device_ids=ids)
    if "dataparallel" in inject:
        model = nn.DataParallel(model)
    return model


def is_last_rank() -> bool:
    if not distributed():
        return False
    return torch.distributed.get_rank() == torch.distributed.get_world_size() - 1


def make_optimizer(model: nn.Module, lr: float, inject: frozenset[str]) -> torch.optim.Optimizer:
    # foreach=None lets torch use its multi-tensor kernels; False forces a per-tensor loop.
    foreach = False if "single-tensor-optimizer" in inject else None
    return torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9, foreach=foreach)


def configure_backends(device: torch.device, inject: frozenset[str]) -> None:
    if device.type != "cuda":
        return
    torch.backends.cudnn.benchmark = "cudnn-benchmark" not in inject
    tf32 = "no-amp" not in inject
    torch.backends.cuda.matmul.allow_tf32 = tf32
    torch.backends.cudnn.allow_tf32 = tf32


@contextlib.contextmanager
def autocast_for(device: torch.device, inject: frozenset[str]) -> Iterator[None]:
    """bf16 autocast on a GPU (the well-written default); nothing on CPU or with no-amp."""
    if device.type == "cuda" and "no-amp" not in inject:
        with torch.autocast("cuda", dtype=torch.bfloat16):
            yield
    else:
        yield


def forward(model: nn.Module, x: torch.Tensor, inject: frozenset[str]) -> torch.Tensor:
    return model.forward(x) if "direct-forward" in inject else model(x)


def zero_grad(optimizer: torch.optim.Optimizer, inject: frozenset[str]) -> None:
    optimizer.zero_grad(set_to_none="zero-grad-fill" not in inject)


def per_sample_loss(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """The launch-bound way: one tiny forward and loss per sample."""
    losses = [nn.functional.cross_entropy(model(x[i : i + 1]), y[i : i + 1]) for i in range(len(x))]
    return torch.stack(losses).mean()
