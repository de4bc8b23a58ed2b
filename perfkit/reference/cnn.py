"""A small CNN on synthetic 32x32 images, with a DataLoader and a validation pass.

The clean loop is what a careful user writes: on a GPU, persistent DataLoader workers,
pinned memory and non-blocking copies, bf16 autocast and cudnn.benchmark; everywhere, the
loss kept on the device and validation under ``torch.no_grad()``.
"""

from __future__ import annotations

import time

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset, DistributedSampler

from perfkit.capture.step import profile_step
from perfkit.reference import common

CLASSES, IMAGE = 10, 32
TRAIN_SAMPLES, VAL_SAMPLES, BATCH = 1536, 512, 64
# Per-sample cost of the "decode from disk" the data-starved loop does on the main thread.
SLOW_DECODE_S = 0.0004


class SyntheticImages(Dataset):
    """Class-dependent noise images; ``decode_s`` simulates reading and decoding a file."""

    def __init__(self, samples: int, seed: int, decode_s: float = 0.0) -> None:
        g = torch.Generator().manual_seed(seed)
        self.labels = torch.randint(0, CLASSES, (samples,), generator=g)
        means = torch.linspace(-1, 1, CLASSES).view(CLASSES, 1, 1, 1)
        self.images = means[self.labels] + torch.randn(samples, 3, IMAGE, IMAGE, generator=g)
        self.decode_s = decode_s

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        if self.decode_s:
            time.sleep(self.decode_s)
        return self.images[i], self.labels[i]


def make_model() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(3, 16, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(32 * 8 * 8, CLASSES),
    )


def make_loader(device: torch.device, inject: frozenset[str]) -> DataLoader:
    starved = "data-starved" in inject or ("rank-straggler" in inject and common.is_last_rank())
    dataset = SyntheticImages(TRAIN_SAMPLES, seed=1, decode_s=SLOW_DECODE_S if starved else 0.0)
    sampler: DistributedSampler | None = (
        DistributedSampler(dataset, seed=2) if common.distributed() else None
    )
    # The data is in memory and cheap to index. Feeding a GPU, workers prepare batches while
    # it computes; on a CPU-only machine they would compete with training for the same
    # cores (measured here: 9.5% of each step waiting with 2 workers, 3.5% with none).
    workers = 2 if device.type == "cuda" or "worker-respawn" in inject else 0
    if starved:
        workers = 0
    return DataLoader(
        dataset,
        batch_size=BATCH,
        shuffle=sampler is None,
        sampler=sampler,
        generator=torch.Generator().manual_seed(2),
        num_workers=workers,
        persistent_workers=workers > 0 and "worker-respawn" not in inject,
        pin_memory=device.type == "cuda" and "pageable-copy" not in inject,
    )


def train(inject: frozenset[str], steps: int) -> dict[str, float]:
    torch.manual_seed(0)
    device = common.pick_device()
    common.configure_backends(device, inject)
    loader = make_loader(device, inject)
    val = SyntheticImages(VAL_SAMPLES, seed=3)
    model = common.prepare_model(make_model(), device, inject)
    optimizer = common.make_optimizer(model, lr=0.02, inject=inject)
    non_blocking = "blocking-copy" not in inject
    running = torch.zeros((), device=device)
    outputs: list[torch.Tensor] = []
    host_losses: list[float] = []
    correct = torch.zeros((), device=device, dtype=torch.long)

    @profile_step
    def train_step(images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        nonlocal running, correct
        images = images.to(device, non_blocking=non_blocking)
        labels = labels.to(device, non_blocking=non_blocking)
        common.zero_grad(optimizer, inject)
        with common.autocast_for(device, inject):
            if "launch-bound" in inject:
                loss = common.per_sample_loss(model, images, labels)
                out = None
            else:
                out = common.forward(model, images, inject)
                loss = nn.functional.cross_entropy(out, labels)
        loss.backward()
        optimizer.step()
        if "empty-cache" in inject:
            torch.cuda.empty_cache()
        if "memory-growth" in inject and out is not None:
            outputs.append(out.detach().clone())
        if "redundant-transfer" in inject and out is not None:
            correct += (out.argmax(1).cpu() == labels.cpu()).sum().to(device)
        if "graph-leak" in inject:
            running = running + loss
        else:
            running += loss.detach()
        if "host-sync" in inject:
            host_losses.append(loss.item())
        return loss

    done = 0
    while done < steps:
        for images, labels in loader:
            train_step(images, labels)
            done += 1
            if done >= steps:
                break
        validate(model, val, device, inject)
    return {"mean_loss": float(running.detach()) / max(done, 1)}


def validate(
    model: nn.Module, val: SyntheticImages, device: torch.device, inject: frozenset[str]
) -> float:
    model.eval()
    correct = torch.zeros((), device=device, dtype=torch.long)
    for start in range(0, len(val), 256):
        images = val.images[start : start + 256].to(device)
        labels = val.labels[start : start + 256].to(device)
        if "eval-grad" in inject:
            correct += (model(images).argmax(1) == labels).sum()
        else:
            with torch.no_grad():
                correct += (model(images).argmax(1) == labels).sum()
    model.train()
    return float(correct) / len(val)
