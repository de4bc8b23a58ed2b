"""Capture on a CUDA device: the counters against real copies.

Apart from test_syncs_transfers.py, whose module-level skip (CPU-only sync semantics)
would skip these on exactly the machines they are for.
"""

from __future__ import annotations

import pytest
import torch

from tests.conftest import capture, step_syncs, step_transfers

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA"),
]


def test_gpu_transfers_are_classified(tmp_path):  # pragma: no cover - runs on GPU machines
    pageable = torch.ones(1024)
    pinned = torch.ones(1024).pin_memory()

    def step():
        pageable.to("cuda")
        pinned.to("cuda", non_blocking=True)
        pinned.cuda().cpu()

    run = capture(tmp_path / "run", step, steps=2)
    totals = step_transfers(run, 1)["totals"]
    assert totals["h2d"]["pageable"] == 1 and totals["h2d"]["pinned"] == 2
    assert totals["d2h"]["count"] == 1
    assert step_syncs(run, 1)["by_kind"] == {"cpu": 1}
