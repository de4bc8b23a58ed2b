"""The Iris-sized MLP from the seed article: 4 -> 10 -> 3, full batch, SGD.

On a GPU this model is launch-bound by nature (the article measured it 3.9x slower than
on the CPU); a per-step ``loss.item()`` makes it worse. The clean loop keeps the data on
the device, accumulates the loss there and reads it back once at the end.
"""

from __future__ import annotations

import torch
from torch import nn

from perfkit.capture.step import profile_step
from perfkit.reference import common

SAMPLES, FEATURES, CLASSES = 150, 4, 3


def iris_like_data(generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """150 samples in 3 Gaussian clusters with Iris's shape (no download needed)."""
    centers = torch.tensor([[5.0, 3.4, 1.5, 0.2], [5.9, 2.8, 4.3, 1.3], [6.6, 3.0, 5.6, 2.0]])
    y = torch.arange(CLASSES).repeat_interleave(SAMPLES // CLASSES)
    x = centers[y] + 0.3 * torch.randn(SAMPLES, FEATURES, generator=generator)
    return x, y


def train(inject: frozenset[str], steps: int) -> dict[str, float]:
    generator = torch.Generator().manual_seed(0)
    torch.manual_seed(0)
    device = common.pick_device()
    x_cpu, y_cpu = iris_like_data(generator)
    x, y = x_cpu.to(device), y_cpu.to(device)
    model = common.prepare_model(
        nn.Sequential(nn.Linear(FEATURES, 10), nn.ReLU(), nn.Linear(10, CLASSES)), device, inject
    )
    optimizer = common.make_optimizer(model, lr=0.05, inject=inject)
    running = torch.zeros((), device=device)
    history: list[torch.Tensor] = []
    host_total = 0.0
    best = torch.tensor(float("inf"), device=device)

    @profile_step
    def train_step() -> torch.Tensor:
        nonlocal running, host_total, best
        common.zero_grad(optimizer, inject)
        if "launch-bound" in inject:
            loss = common.per_sample_loss(model, x, y)
        else:
            out = common.forward(model, x, inject)
            loss = nn.functional.cross_entropy(out, y)
            if "memory-growth" in inject:
                history.append(out.detach().clone())
        loss.backward()
        optimizer.step()
        if "empty-cache" in inject:
            torch.cuda.empty_cache()
        if "graph-leak" in inject:
            running = running + loss
        else:
            running += loss.detach()
        if "host-sync" in inject:
            host_total += loss.item()
            if loss < best:  # bool(tensor): another wait for the device
                best = loss.detach()
        return loss

    for step in range(steps):
        train_step()
        if (step + 1) % max(1, steps // 4) == 0:
            evaluate(model, x, y, inject)
    return {"mean_loss": float(running.detach()) / steps}


def evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor, inject: frozenset[str]) -> float:
    model.eval()
    if "eval-grad" in inject:
        correct = (model(x).argmax(1) == y).sum()
    else:
        with torch.no_grad():
            correct = (model(x).argmax(1) == y).sum()
    model.train()
    return float(correct) / len(y)
