"""Typed run files for tests: a plausible run in one call, any field overridden.

    run = run_of(gpu=True, steps=12, step=Step(wall_ms=40.0, data_wait_ms=30.0))
    report = analyze([Evidence(run=run)])

``to_json(run)`` gives the file's JSON, for tests that damage it on purpose.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from perfkit.runmodel import Capture, Config, Device, Env, Memory, Run, Site, Step

SITE = Site(file="/home/u/train.py", line=40, function="train", code="x = x.to(device)")
A100 = Device(type="cuda", name="NVIDIA A100", memory_bytes=40 * 2**30, capability="8.0")
CPU = Device(type="cpu", name="x86_64")


def run_of(*, gpu: bool = False, steps: int = 6, step: Step | None = None, **fields: Any) -> Run:
    """A complete run of ``steps`` copies of ``step`` (numbered), on an A100 or a CPU."""
    if step is None:
        memory = (
            Memory(allocated_bytes=2**30, reserved_bytes=2**31, peak_bytes=2**31)
            if gpu
            else Memory(rss_bytes=500 * 2**20)
        )
        step = Step(wall_ms=10.0, outside_ms=0.5, data_wait_ms=0.2, batches=1, memory=memory)
    base = Run(
        complete=True,
        env=Env(device=A100 if gpu else CPU, cpu_count=8, cpu_available=8),
        capture=Capture(accelerator=gpu, step_source="decorator"),
        config=Config(),
        steps=tuple(dataclasses.replace(step, i=i) for i in range(steps)),
        sites=(SITE,),
    )
    return dataclasses.replace(base, **fields)
