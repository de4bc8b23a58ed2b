"""The anti-patterns the reference loop can inject, one per rule slug of the catalogue.

Slugs and codes are those of the public rule catalogue (DESIGN.md). A rule that needs a
GPU to happen at all (pinned memory, tensor cores, cuDNN) is injectable only where CUDA is
available; rules about many ranks or about capacity are not injectable here.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Injection:
    slug: str
    code: str
    what: str  # what the loop does wrong when it is injected
    presets: tuple[str, ...] = ("iris", "cnn")
    needs_gpu: bool = False
    needs_ddp: bool = False


INJECTIONS: dict[str, Injection] = {
    i.slug: i
    for i in (
        Injection("host-sync", "PK101", "loss.item() and a tensor comparison inside every step"),
        Injection(
            "pageable-copy",
            "PK102",
            "DataLoader pin_memory=False feeding the GPU",
            ("cnn",),
            needs_gpu=True,
        ),
        Injection(
            "blocking-copy",
            "PK103",
            "batches copied with non_blocking=False",
            ("cnn",),
            needs_gpu=True,
        ),
        Injection(
            "redundant-transfer",
            "PK104",
            "targets copied to the GPU and straight back for the accuracy count",
            ("cnn",),
            needs_gpu=True,
        ),
        Injection("graph-leak", "PK201", "total_loss += loss keeps every step's graph alive"),
        Injection("eval-grad", "PK202", "validation forward without torch.no_grad()"),
        Injection("memory-growth", "PK203", "every step's outputs appended to a Python list"),
        Injection("empty-cache", "PK205", "torch.cuda.empty_cache() inside every step"),
        Injection("data-starved", "PK301", "slow per-sample decoding with num_workers=0", ("cnn",)),
        Injection(
            "worker-respawn",
            "PK302",
            "num_workers=2 with persistent_workers=False: workers re-spawned each epoch",
            ("cnn",),
        ),
        Injection(
            "launch-bound", "PK401", "the loss computed one sample at a time in a Python loop"
        ),
        Injection("no-amp", "PK402", "fp32 everywhere: no autocast, no TF32", needs_gpu=True),
        Injection("zero-grad-fill", "PK501", "optimizer.zero_grad(set_to_none=False)"),
        Injection("single-tensor-optimizer", "PK502", "SGD(..., foreach=False)"),
        Injection("direct-forward", "PK503", "model.forward(x) instead of model(x)"),
        Injection("dataparallel", "PK504", "the model wrapped in nn.DataParallel"),
        Injection(
            "cudnn-benchmark",
            "PK505",
            "fixed-shape convolutions with cudnn.benchmark off",
            ("cnn",),
            needs_gpu=True,
        ),
        Injection(
            "rank-straggler",
            "PK601",
            "the last rank decodes its data slowly",
            ("cnn",),
            needs_ddp=True,
        ),
    )
}

PRESETS = ("iris", "cnn")


class InjectionError(ValueError):
    """An --inject value that cannot be honoured here; the message says why."""


def parse_injections(
    text: str | None, preset: str, has_gpu: bool, ddp: bool = False
) -> frozenset[str]:
    """Parse ``"host-sync,graph-leak"``; reject unknown slugs and ones that cannot happen here."""
    if not text:
        return frozenset()
    chosen = [s.strip() for s in text.split(",") if s.strip()]
    for slug in chosen:
        inj = INJECTIONS.get(slug)
        if inj is None:
            raise InjectionError(
                f"unknown anti-pattern {slug!r}; `perfkit reference --list` shows them"
            )
        if inj.needs_ddp and not ddp:
            raise InjectionError(f"{slug} needs --ddp (several ranks under torchrun)")
        if inj.needs_gpu and not has_gpu:
            raise InjectionError(f"{slug} needs a CUDA device, and this machine has none")
        if preset not in inj.presets:
            raise InjectionError(
                f"{slug} does not apply to the {preset} preset (try --preset {inj.presets[0]})"
            )
    return frozenset(chosen)
