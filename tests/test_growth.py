"""Growth across heap scans: sustained rises count, sawtooth resets too; one-time step-ups,
plateaus and noise do not."""

from __future__ import annotations

import random

import pytest

from perfkit.rules._common import sustained_growth


def scans(values, every=10):
    """A series of (step, value), one scan every ``every`` steps."""
    return [(every * (i + 1), v) for i, v in enumerate(values)]


def test_steady_growth_is_its_rate_per_step():
    assert sustained_growth(scans([100, 200, 300, 400, 500])) == pytest.approx(10)


def test_a_total_reset_every_epoch_still_grows():
    sawtooth = [24, 100, 180, 260, 24, 100, 180, 260, 24, 100, 180]
    assert sustained_growth(scans(sawtooth)) == pytest.approx(8, rel=0.05)


@pytest.mark.parametrize(
    "values",
    [
        [100, 100, 500, 500, 500, 500, 500],  # optimizer state created once
        [10, 20, 40, 80, 100, 100, 100, 100, 100, 100],  # a bounded history fills, then stays
        [50, 50, 50, 50, 50],  # flat
        [3, 2, 3],  # too few scans
    ],
)
def test_step_ups_plateaus_and_flat_series_are_not_growth(values):
    assert sustained_growth(scans(values)) is None


@pytest.mark.parametrize("rises_per_fall, at_most", [(1.5, 0.1), (3.0, 0.01)])
def test_noise_is_rarely_growth(rises_per_fall, at_most):
    """Independent noise over 20 scans: how often it passes for growth. Graph nodes (exactly
    flat in a clean loop) use 1.5; live bytes, noisy by nature, use 3."""
    rng = random.Random(7)
    trials = 2000
    grown = sum(
        sustained_growth(scans([rng.random() for _ in range(20)]), rises_per_fall) is not None
        for _ in range(trials)
    )
    assert grown / trials <= at_most


def test_only_graphs_that_outlive_their_step_are_kept_across_steps():
    from perfkit.rules.pk201_graph_leak import kept_across_steps
    from perfkit.runmodel import HeapScan

    def scan(step, oldest, newest):
        return HeapScan(step=step, node_ages=(oldest, newest))

    # total += loss: the oldest node stays the first step's; the newest moves on
    leak = [scan(2, 10, 30), scan(4, 10, 70), scan(8, 10, 150)]
    assert kept_across_steps(leak) == (2, 2)
    # graphs of varying size, each freed by the next step: every scan sees only new nodes
    varying = [scan(2, 20, 90), scan(4, 100, 120), scan(8, 300, 420)]
    assert kept_across_steps(varying) == (0, 2)
    assert kept_across_steps([HeapScan(step=1), HeapScan(step=2)]) == (0, 0)  # older run files


def test_a_bounded_replay_buffer_is_named_and_noted_not_flagged(tmp_path):
    """A deque(maxlen=N) of transitions grows until it is full: the finding names it, says
    where it stops, and is info."""
    from collections import deque

    import torch

    from perfkit import analyze
    from tests.conftest import capture

    buffer = deque(maxlen=5000)

    def step():  # 4 KiB a step: past the rule's 16 KiB by step 8, the scans a loaded
        # machine still affords in 400 short steps (each scan costs more there, fewer run)
        buffer.append((torch.randn(512), torch.randn(512)))

    capture(tmp_path / "run", step, steps=400)
    [f] = [f for f in analyze(tmp_path / "run").findings if f.rule == "memory-growth"]
    assert f.severity.name == "INFO" and "bounded at 5000 items" in f.message
    assert f.locations[0].code.startswith("buffer.append(")
