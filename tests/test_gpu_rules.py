"""Rules that need a GPU, proven on hand-built run files (the CPU machine cannot record
them): each rule fires on a trigger run and stays quiet on its clean twin."""

from __future__ import annotations

import copy

import pytest

from perfkit.analysis.engine import analyze
from perfkit.evidence import Evidence
from perfkit.rules import find_rule
from perfkit.runfile import run_from_dict
from perfkit.runmodel import Config, LoaderConfig, Probe, to_json
from tests.builders import run_of


def gpu_run(steps: int = 6, **step_fields) -> dict:
    """A CUDA run's JSON with ``steps`` identical steps; ``step_fields`` go into every step."""
    run = to_json(
        run_of(
            gpu=True,
            steps=steps,
            config=Config(
                dataloaders=(LoaderConfig(num_workers=4, pin_memory=True),),
                autocast={"cuda:torch.bfloat16": 6},
                backends={"cudnn_benchmark": True, "matmul_allow_tf32": True},
            ),
            probe=Probe(torch_calls=100),
        )
    )
    for step in run["steps"]:
        step.update(copy.deepcopy(step_fields))
    return run


def transfers(direction: str, pinned: bool, non_blocking: bool, count: int = 2) -> dict:
    return {
        "transfers": {
            "totals": {direction: {"count": count, "bytes": 4096 * count}},
            "sites": [
                {
                    "site": 0,
                    "direction": direction,
                    "count": count,
                    "bytes": 4096 * count,
                    "pinned": pinned,
                    "non_blocking": non_blocking,
                }
            ],
        }
    }


def findings(rule: str, run: dict) -> list:
    return list(analyze([Evidence(run=run_from_dict(run))], [find_rule(rule)]).findings)


def with_config(run: dict, **config) -> dict:
    run = copy.deepcopy(run)
    run["config"].update(config)
    return run


CASES = {
    "pageable-copy": (
        gpu_run(events=transfers("h2d", pinned=False, non_blocking=False)),
        gpu_run(events=transfers("h2d", pinned=True, non_blocking=True)),
    ),
    "blocking-copy": (
        gpu_run(events=transfers("h2d", pinned=True, non_blocking=False)),
        gpu_run(events=transfers("h2d", pinned=True, non_blocking=True)),
    ),
    "redundant-transfer": (
        gpu_run(
            events={
                "transfers": {
                    "totals": {},
                    "sites": [
                        {
                            "site": 0,
                            "direction": "h2d",
                            "count": 1,
                            "bytes": 512,
                            "pinned": False,
                            "non_blocking": False,
                        },
                        {
                            "site": 0,
                            "direction": "d2h",
                            "count": 1,
                            "bytes": 512,
                            "pinned": False,
                            "non_blocking": False,
                        },
                    ],
                }
            }
        ),
        gpu_run(events=transfers("h2d", pinned=True, non_blocking=True)),
    ),
    "near-oom": (
        gpu_run(
            memory={
                "allocated_bytes": 30 * 2**30,
                "reserved_bytes": 39 * 2**30,
                "peak_bytes": 38 * 2**30,
            }
        ),
        gpu_run(),
    ),
    "no-amp": (
        with_config(gpu_run(), autocast={}, backends={"matmul_allow_tf32": False}),
        gpu_run(),
    ),
    "empty-cache": (
        gpu_run(events={"empty_cache": [{"site": 0, "count": 1}]}),
        gpu_run(),
    ),
    "dataparallel": (
        {
            **gpu_run(),
            "probe": {"torch_calls": 9, "wrappers": [{"type": "DataParallel", "calls": 1}]},
        },
        gpu_run(),
    ),
}


@pytest.mark.parametrize("rule", sorted(CASES))
def test_gpu_rule_trigger_and_clean_twin(rule):
    trigger, clean = CASES[rule]
    found = findings(rule, trigger)
    assert len(found) == 1 and found[0].rule == rule and found[0].message
    assert findings(rule, clean) == []


def test_severity_of_gpu_only_costs():
    assert str(findings("empty-cache", CASES["empty-cache"][0])[0].severity) == "warning"
    assert str(findings("dataparallel", CASES["dataparallel"][0])[0].severity) == "warning"
    message = findings("dataparallel", CASES["dataparallel"][0])[0].message
    assert "DistributedDataParallel" in message and "torchrun" in message


def test_low_utilization_from_nvml_samples():
    idle = gpu_run()
    idle["samples"] = {"series": {"t": [0.1, 0.2, 0.3], "gpu_util": [20, 30, 25]}}
    busy = copy.deepcopy(idle)
    busy["samples"]["series"]["gpu_util"] = [95, 97, 99]
    assert findings("low-utilization", idle)[0].evidence["busy_share"] == 0.25
    assert findings("low-utilization", busy) == []
