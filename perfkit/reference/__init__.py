"""The reference training loop, clean or with anti-patterns injected by rule slug."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from perfkit.reference.injections import INJECTIONS, PRESETS, InjectionError, parse_injections

# Steps per preset: enough for the profiler window, the probe step and several heap scans.
DEFAULT_STEPS = {"iris": 200, "cnn": 60}

__all__ = ["INJECTIONS", "PRESETS", "InjectionError", "parse_injections", "run_reference"]


def run_reference(
    preset: str = "iris",
    inject: frozenset[str] = frozenset(),
    out: str | os.PathLike[str] | None = None,
    steps: int | None = None,
    ddp: bool = False,
    **session_options: Any,
) -> tuple[Path, dict[str, float]]:
    """Train the preset under a perfkit Session; returns the run directory and final metrics.

    ``ddp``: this process is one rank of a torchrun job; train with DistributedDataParallel
    (gloo on CPU, NCCL on GPUs). Each rank writes its own run file into ``out``.
    """
    import torch

    from perfkit.capture.session import Session
    from perfkit.reference import cnn, iris

    trainer = {"iris": iris.train, "cnn": cnn.train}[preset]
    if ddp:
        torch.distributed.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    try:
        with Session(out, **session_options) as session:
            metrics = trainer(frozenset(inject), steps or DEFAULT_STEPS[preset])
    finally:
        if ddp:
            torch.distributed.destroy_process_group()
    return session.run_dir, metrics
