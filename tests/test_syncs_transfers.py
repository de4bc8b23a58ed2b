"""The sync and transfer counters, each against a clean twin (CPU-only semantics)."""

from __future__ import annotations

import sys

import numpy  # noqa: F401  (.numpy() needs it)
import pytest
import torch

from tests.conftest import capture, step_syncs, step_transfers

pytestmark = pytest.mark.skipif(torch.cuda.is_available(), reason="CPU-only sync semantics")


def _site_lines(run, syncs):
    return {(run.sites[s["site"]]["line"], s["kind"]): s["count"] for s in syncs["sites"]}


@pytest.mark.parametrize("k", [1, 3, 7])
def test_k_item_calls_record_k_syncs_at_that_line(tmp_path, k):
    t = torch.ones(3).sum()
    line = None

    def step():
        nonlocal line
        for _ in range(k):
            line = sys._getframe().f_lineno + 1
            t.item()

    run = capture(tmp_path / "run", step, steps=4)
    for i in range(4):
        syncs = step_syncs(run, i)
        assert syncs["count"] == k
        assert _site_lines(run, syncs) == {(line, "item"): k}
    site = run.sites[step_syncs(run, 0)["sites"][0]["site"]]
    assert site["file"] == __file__ and site["code"] == "t.item()" and site["function"] == "step"


def test_clean_twin_records_no_sync(tmp_path):
    t = torch.ones(3)

    def step():
        (t * 2).sum()

    run = capture(tmp_path / "run", step, steps=3)
    assert all(step_syncs(run, i)["count"] == 0 for i in range(3))


def test_each_sync_kind_is_named(tmp_path):
    t = torch.ones(3)

    def step():
        t.sum().item()
        t.tolist()
        t.numpy()
        bool(t.sum() > 0)
        float(t.sum())
        f"{t.sum()}"  # noqa: B018 (formatting reads the value)
        t.nonzero()

    run = capture(tmp_path / "run", step, steps=2)
    kinds = step_syncs(run, 1)["by_kind"]
    assert kinds == {
        "item": 1,
        "tolist": 1,
        "numpy": 1,
        "bool": 1,
        "float": 1,
        "print": 1,
        "nonzero": 1,
    }


def test_cpu_then_item_on_one_line_counts_once(tmp_path):
    t = torch.ones(3).sum()

    def step():
        t.cpu().item()

    run = capture(tmp_path / "run", step, steps=2)
    assert step_syncs(run, 1)["by_kind"] == {"cpu": 1}


def test_torch_internal_scalar_reads_are_not_user_syncs(tmp_path, tiny_model):
    """Adam reads its CPU step counter with .item(); that never waits on a GPU."""
    model, _, x, y = tiny_model
    opt = torch.optim.Adam(model.parameters(), foreach=False)

    def step():
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(x), y).backward()
        opt.step()

    run = capture(tmp_path / "run", step, steps=3)
    assert all(step_syncs(run, i)["count"] == 0 for i in range(3))


def test_print_of_a_tensor_counts_one_sync(tmp_path, capsys):
    t = torch.ones(2)

    def step():
        print(t)

    run = capture(tmp_path / "run", step, steps=2)
    assert step_syncs(run, 1)["by_kind"] == {"print": 1}


def test_to_device_is_recorded_as_intent_with_bytes(tmp_path):
    device = torch.device("cpu")
    x = torch.ones(8, 4)  # 128 bytes

    def step():
        x.to(device)
        x.to(torch.float64)  # a cast, not a transfer
        x.to(device, non_blocking=True)

    run = capture(tmp_path / "run", step, steps=3)
    totals = step_transfers(run, 2)["totals"]
    assert totals == {
        "intent": {"count": 2, "bytes": 256, "pinned": 0, "pageable": 2, "non_blocking": 1}
    }


def test_no_transfer_in_clean_twin(tmp_path):
    x = torch.ones(8, 4)

    def step():
        x.to(torch.float64)
        x + 1

    run = capture(tmp_path / "run", step, steps=2)
    assert step_transfers(run, 1)["totals"] == {}


def test_syncs_between_steps_are_kept_apart(tmp_path):
    t = torch.ones(1)

    def step():
        t + 1

    run = capture(tmp_path / "run", step, steps=3, between=lambda: t.item())
    assert all(step_syncs(run, i)["count"] == 0 for i in range(3))
    assert run.outside_steps["syncs"]["count"] == 3


def test_explicit_synchronize_is_counted(tmp_path, monkeypatch):
    import perfkit.capture.syncs as syncs_probe  # noqa: F401  (installs over torch.cuda)

    def step():
        try:
            torch.cuda.synchronize()
        except (RuntimeError, AssertionError):
            pass  # no CUDA here: the call still happened

    run = capture(tmp_path / "run", step, steps=2)
    assert step_syncs(run, 1)["by_kind"] == {"synchronize": 1}
