"""Every anti-pattern the reference loop injects on this device changes what is recorded."""

from __future__ import annotations

import statistics

import pytest
import torch

from perfkit.reference import INJECTIONS, run_reference
from tests.conftest import REFERENCE_STEPS, perfkit_cli, read_run

HAS_GPU = torch.cuda.is_available()


def _sync_count(run):
    return sum(s.get("events", {}).get("syncs", {}).get("count", 0) for s in run.steps)


def _scans(run):
    return [g for g in run.graph_scans if not g.get("final")]


def _growth(run, key):
    scans = _scans(run)
    return scans[-1][key] - scans[0][key]


def _median_wait(run):
    return statistics.median(s["data_wait_ms"] for s in run.steps[1:])


def _spawns(run):
    return sum(d["worker_spawns"] for d in run.config["dataloaders"])


# slug -> (what to measure, how the injected value must compare with the clean one)
CHANGES = {
    "host-sync": (_sync_count, lambda bad, clean: bad >= 40 and clean == 0),
    "graph-leak": (
        lambda r: _growth(r, "graph_nodes"),
        lambda bad, clean: bad > 100 and clean == 0,
    ),
    "eval-grad": (lambda r: r.eval_forwards["forwards_with_grad"], lambda b, c: b > 0 and c == 0),
    "memory-growth": (lambda r: _growth(r, "tensor_bytes"), lambda b, c: b > 10_000 and c == 0),
    "empty-cache": (
        lambda r: sum(len(s.get("events", {}).get("empty_cache", [])) for s in r.steps),
        lambda b, c: b == REFERENCE_STEPS["iris"] and c == 0,
    ),
    "data-starved": (_median_wait, lambda b, c: b > 5 * c),
    "worker-respawn": (lambda r: _spawns(r), lambda b, c: b == 3 and c <= 1),
    "launch-bound": (lambda r: r.probe["torch_calls"], lambda b, c: b > 10 * c),
    "zero-grad-fill": (lambda r: r.config["zero_grad"]["fill_zero"], lambda b, c: b > 0 and c == 0),
    "single-tensor-optimizer": (
        lambda r: r.config["optimizers"][0]["foreach"],
        lambda b, c: b is False and c is None,
    ),
    "direct-forward": (lambda r: len(r.probe["direct_forward"]), lambda b, c: b == 1 and c == 0),
    "dataparallel": (lambda r: len(r.probe["wrappers"]), lambda b, c: b == 1 and c == 0),
}
GPU_ONLY = {slug for slug, inj in INJECTIONS.items() if inj.needs_gpu}
DDP_ONLY = {slug for slug, inj in INJECTIONS.items() if inj.needs_ddp}  # see test_ddp


def test_every_cpu_injection_has_a_check():
    assert set(INJECTIONS) - GPU_ONLY - DDP_ONLY == set(CHANGES)


@pytest.mark.parametrize("slug", sorted(CHANGES))
def test_injection_changes_the_record(reference_run, slug):
    preset = INJECTIONS[slug].presets[0]
    measure, changed = CHANGES[slug]
    bad = measure(reference_run(preset, slug))
    clean = measure(reference_run(preset, None))
    assert changed(bad, clean), f"{slug}: injected {bad!r} vs clean {clean!r}"


def test_clean_loops_record_no_per_step_syncs_or_growth(reference_run):
    for preset in ("iris", "cnn"):
        run = reference_run(preset, None)
        assert _sync_count(run) == 0
        assert _growth(run, "graph_nodes") == 0
        assert run.eval_forwards["forwards_with_grad"] == 0
        assert run.probe["direct_forward"] == [] and run.probe["wrappers"] == []


@pytest.mark.skipif(not HAS_GPU, reason="needs CUDA")
@pytest.mark.gpu
@pytest.mark.parametrize("slug", sorted(GPU_ONLY))
def test_gpu_injections_run(tmp_path, slug):  # pragma: no cover - GPU machines only
    run_dir, _ = run_reference(
        "cnn", frozenset([slug]), out=tmp_path / "run", steps=30, window=None, quiet=True
    )
    assert len(read_run(run_dir).steps) == 30


def test_reference_command_end_to_end(tmp_path):
    out = tmp_path / "demo"
    result = perfkit_cli("reference", "--inject", "host-sync,graph-leak", "--steps", 30, "-o", out)
    assert result.returncode == 0, result.stderr
    assert "injecting graph-leak, host-sync" in result.stderr
    assert f"run file  {out / 'run.json'}" in result.stderr
    run = read_run(out)
    assert run.complete and len(run.steps) == 30 and run.traces
