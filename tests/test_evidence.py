"""Data wait, configuration and leak evidence: each triggered, each against a clean twin."""

from __future__ import annotations

import statistics
import time

import pytest
import torch
from torch.utils.data import DataLoader, Dataset, TensorDataset

from perfkit import Session, profile_step
from tests.conftest import QUICK, capture, read_run


class SlowDataset(Dataset):
    def __init__(self, n, delay_s):
        self.n, self.delay_s = n, delay_s

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        time.sleep(self.delay_s)
        return torch.ones(4), 0


def _loop(out, loader, steps=6):
    @profile_step
    def train_step(batch):
        time.sleep(0.002)
        return batch

    with Session(out, **QUICK):
        for i, batch in enumerate(loader):
            train_step(batch)
            if i + 1 >= steps:
                break
    return read_run(out)


def test_data_wait_is_measured_in_the_loaders_next(tmp_path):
    slow = _loop(tmp_path / "slow", DataLoader(SlowDataset(64, 0.002), batch_size=4))
    fast = _loop(tmp_path / "fast", DataLoader(TensorDataset(torch.ones(64, 4)), batch_size=4))
    # The first step's wait happened before the session started; look at the rest.
    slow_wait = statistics.median(s["data_wait_ms"] for s in slow.steps[1:])
    fast_wait = statistics.median(s["data_wait_ms"] for s in fast.steps[1:])
    assert slow_wait >= 4 * 2 * 0.9  # four samples of 2 ms each
    assert fast_wait < 2
    assert all(s["batches"] == 1 for s in slow.steps[1:])
    assert slow.config["dataloaders"][0]["num_workers"] == 0


@pytest.mark.parametrize("auto_steps", [False, True])
def test_a_starved_step_names_the_training_loader_not_the_evaluation_one(tmp_path, auto_steps):
    """Both loaders are slow and built a line apart; only the training one gives the steps
    their batches, so only its line is where the fix goes (pytorch/examples' mnist builds
    train_loader and test_loader back to back). Decorated steps fetch their batch before
    the step, automatic ones (cut at optimizer.step) inside it."""
    from perfkit import analyze

    model = torch.nn.Linear(4, 1)
    opt = torch.optim.SGD(model.parameters(), lr=0.01)

    def train_step(x):
        opt.zero_grad()
        model(x).sum().backward()
        opt.step()

    step = train_step if auto_steps else profile_step(train_step)
    with Session(tmp_path / "run", **QUICK, auto_steps=auto_steps):  # probes on, as `perfkit run`
        train = DataLoader(SlowDataset(48, 0.003), batch_size=4)
        test = DataLoader(SlowDataset(8, 0.003), batch_size=4)
        for _ in range(2):
            for x, _y in train:
                step(x)
            with torch.no_grad():
                for x, _y in test:
                    model(x)
    run = read_run(tmp_path / "run")
    # The evaluation between the two epochs lands before the second epoch's first step.
    fed = sorted(d.get("steps_fed") or 0 for d in run.config["dataloaders"])
    assert fed == [1, len(run.steps)]
    [starved] = [f for f in analyze(tmp_path / "run").findings if f.rule == "data-starved"]
    assert [loc.code for loc in starved.locations] == [
        "train = DataLoader(SlowDataset(48, 0.003), batch_size=4)"
    ]


def test_every_loader_a_step_takes_batches_from_feeds_it(tmp_path):
    """zip(labeled, unlabeled): each step takes a batch from both, so both are the loop's
    loaders; the slow one (no workers) is where the fix goes."""
    from perfkit import analyze

    @profile_step
    def train_step(a, b):
        time.sleep(0.002)

    with Session(tmp_path / "run", **QUICK):
        slow = DataLoader(SlowDataset(40, 0.003), batch_size=4)
        fast = DataLoader(TensorDataset(torch.ones(40, 4)), batch_size=4)
        for _ in range(2):
            for a, b in zip(slow, fast, strict=True):
                train_step(a, b)
    run = read_run(tmp_path / "run")
    assert [d["steps_fed"] for d in run.config["dataloaders"]] == [len(run.steps)] * 2
    [starved] = [f for f in analyze(tmp_path / "run").findings if f.rule == "data-starved"]
    assert "num_workers=0" in starved.message
    assert [loc.code for loc in starved.locations] == [
        "slow = DataLoader(SlowDataset(40, 0.003), batch_size=4)",
        "fast = DataLoader(TensorDataset(torch.ones(40, 4)), batch_size=4)",
    ]


def test_loader_settings_and_worker_spawns(tmp_path):
    def run(out, persistent):
        loader = DataLoader(
            TensorDataset(torch.ones(16, 2)),
            batch_size=8,
            num_workers=1,
            persistent_workers=persistent,
        )

        @profile_step
        def train_step(batch):
            return batch

        with Session(out, **QUICK):
            for _ in range(3):
                for batch in loader:
                    train_step(batch)
        return read_run(out).config["dataloaders"]

    respawned = run(tmp_path / "respawn", persistent=False)
    kept = run(tmp_path / "kept", persistent=True)
    assert [(d["persistent_workers"], d["epochs"], d["worker_spawns"]) for d in respawned] == [
        (False, 3, 3)
    ]
    assert [(d["persistent_workers"], d["epochs"], d["worker_spawns"]) for d in kept] == [
        (True, 3, 1)
    ]


def _optim_step(model, opt, x, y, set_to_none=True):
    opt.zero_grad(set_to_none=set_to_none)
    torch.nn.functional.cross_entropy(model(x), y).backward()
    opt.step()


def test_settings_of_an_odd_type_still_make_a_readable_run_file(tmp_path, tiny_model):
    """torch accepts drop_last=0 and foreach=0; the run file records them as the booleans
    they mean, so the reader (which checks every field) reads the file."""
    model, _, x, y = tiny_model
    opt = torch.optim.SGD(model.parameters(), lr=0.1, foreach=0)
    loader = DataLoader(TensorDataset(x, y), batch_size=None, drop_last=0)

    def step():
        for xb, yb in loader:
            _optim_step(model, opt, xb, yb)

    run = capture(tmp_path / "run", step, steps=2)
    assert run.config["dataloaders"][0]["drop_last"] is False
    assert run.config["optimizers"][0]["foreach"] is False
    assert run.capture["errors"] == []


def test_optimizer_and_zero_grad_settings(tmp_path, tiny_model):
    model, _, x, y = tiny_model
    single = torch.optim.SGD(model.parameters(), lr=0.1, foreach=False)
    run = capture(tmp_path / "bad", lambda: _optim_step(model, single, x, y, False), steps=3)
    default = torch.optim.SGD(model.parameters(), lr=0.1)
    clean = capture(tmp_path / "clean", lambda: _optim_step(model, default, x, y), steps=3)
    assert run.config["optimizers"][0]["foreach"] is False
    assert run.config["optimizers"][0]["steps"] == 3
    assert run.config["zero_grad"]["fill_zero"] == 3
    site = run.sites[run.config["zero_grad"]["fill_zero_sites"][0]["site"]]
    assert "zero_grad(set_to_none=set_to_none)" in site["code"]
    assert clean.config["optimizers"][0]["foreach"] is None
    assert clean.config["zero_grad"] == {"set_to_none": 3, "fill_zero": 0, "fill_zero_sites": []}


def test_autocast_and_empty_cache_are_recorded(tmp_path):
    def amp_step():
        with torch.autocast("cpu", dtype=torch.bfloat16):
            torch.ones(2, 2) @ torch.ones(2, 2)
        torch.cuda.empty_cache()

    run = capture(tmp_path / "amp", amp_step, steps=2)
    clean = capture(tmp_path / "plain", lambda: torch.ones(2, 2) @ torch.ones(2, 2), steps=2)
    assert run.config["autocast"] == {"cpu:torch.bfloat16": 2}
    assert [len(s["events"]["empty_cache"]) for s in run.steps] == [1, 1]
    assert clean.config["autocast"] == {}
    assert all("events" not in s for s in clean.steps)


def _scans(run):
    return [g for g in run.graph_scans if not g.get("final")]


def test_graph_leak_grows_the_live_graph(tmp_path, tiny_model):
    model, opt, x, y = tiny_model
    total = torch.zeros(())
    kept = torch.zeros(())

    def leaky():
        nonlocal total
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        total = total + loss  # keeps every step's graph

    def clean():
        nonlocal kept
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        kept = kept + loss.detach()

    leak = _scans(capture(tmp_path / "leak", leaky, steps=17))
    flat = _scans(capture(tmp_path / "clean", clean, steps=17))
    assert {2, 4, 8, 16} <= {g["step"] for g in leak}
    nodes = [g["graph_nodes"] for g in leak]
    assert nodes == sorted(nodes) and nodes[-1] > 4 * nodes[0]
    assert len({g["graph_nodes"] for g in flat}) == 1


def test_retained_outputs_grow_live_tensor_bytes(tmp_path):
    kept = []
    w = torch.ones(256, 256)

    def retaining():
        kept.append(w @ w)  # 256 kB each step, never released

    def clean():
        w @ w

    grow = _scans(capture(tmp_path / "grow", retaining, steps=17))
    flat = _scans(capture(tmp_path / "flat", clean, steps=17))
    growth = grow[-1]["tensor_bytes"] - grow[0]["tensor_bytes"]
    assert growth >= (grow[-1]["step"] - grow[0]["step"]) * 256 * 256 * 4
    assert grow[-1]["grad_tensors"] == 0
    assert flat[-1]["tensor_bytes"] == flat[0]["tensor_bytes"]


def test_eval_forward_with_grad_is_recorded_at_its_line(tmp_path, tiny_model):
    model, opt, x, y = tiny_model

    def evaluate(no_grad):
        model.eval()
        if no_grad:
            with torch.no_grad():
                model(x)
        else:
            model(x)  # EVAL-GRAD
        model.train()

    bad = capture(
        tmp_path / "bad",
        lambda: _optim_step(model, opt, x, y),
        steps=3,
        between=lambda: evaluate(False),
    )
    good = capture(
        tmp_path / "good",
        lambda: _optim_step(model, opt, x, y),
        steps=3,
        between=lambda: evaluate(True),
    )
    assert bad.eval_forwards["forwards_with_grad"] == 3
    assert bad.eval_forwards["forwards_without_grad"] == 0
    site = bad.sites[bad.eval_forwards["sites"][0]["site"]]
    assert site["code"] == "model(x)  # EVAL-GRAD"
    assert good.eval_forwards["forwards_with_grad"] == 0
    assert good.eval_forwards["forwards_without_grad"] == 3


def test_direct_forward_and_wrappers_come_from_the_probe_step(tmp_path, tiny_model):
    model, opt, x, y = tiny_model
    wrapped = torch.nn.DataParallel(model)

    def direct():
        model.forward(x)  # DIRECT

    run = capture(tmp_path / "direct", direct, steps=3)
    clean = capture(tmp_path / "clean", lambda: model(x), steps=3)
    dp = capture(tmp_path / "dp", lambda: wrapped(x), steps=3)
    assert run.steps[1]["phase"] == "probe"
    [entry] = run.probe["direct_forward"]
    assert entry["module"] == "Sequential" and entry["count"] == 1
    assert run.sites[entry["site"]]["code"] == "model.forward(x)  # DIRECT"
    assert clean.probe["direct_forward"] == [] and clean.probe["wrappers"] == []
    assert clean.probe["root_modules"] == [
        {"type": "torch.nn.modules.container.Sequential", "calls": 1}
    ]
    assert dp.probe["wrappers"] == [{"type": "DataParallel", "calls": 1}]


def test_super_forward_is_not_a_direct_call(tmp_path):
    class Scaled(torch.nn.Linear):
        def forward(self, x):
            return super().forward(x) * 2

    model = Scaled(2, 2)
    run = capture(tmp_path / "run", lambda: model(torch.ones(1, 2)), steps=3)
    assert run.probe["direct_forward"] == []


def test_launch_bound_steps_show_many_torch_calls(tmp_path):
    x = torch.ones(64, 4, requires_grad=True)  # model data: ops on host-only data are not launches

    def looped():
        sum(row.sum() for row in x)

    many = capture(tmp_path / "many", looped, steps=3)
    few = capture(tmp_path / "few", lambda: x.sum(), steps=3)
    assert many.probe["torch_calls"] >= 64 > few.probe["torch_calls"]


@pytest.mark.parametrize("hz", [0, 20])
def test_no_gpu_sampler_records_why(tmp_path, hz):
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    run = capture(tmp_path / "run", lambda: time.sleep(0.06), steps=4, sample_hz=hz)
    nvml = run.samples["nvml"]
    assert nvml["available"] is False and nvml["reason"]
    series = run.samples["series"]
    if hz:
        assert len(series["t"]) >= 2 and all(r > 0 for r in series["rss_bytes"])
        assert "gpu_util" not in series
    else:
        assert series["t"] == []


def test_an_untypical_first_probe_step_does_not_give_the_op_counts(tmp_path):
    """Step 1 also runs an evaluation (as a callback at iteration 0 would); the second probe
    step is a plain one and, with fewer ops, is the one the op counts come from."""
    w = torch.ones(8, 8, requires_grad=True)
    calls = []

    def step():
        calls.append(1)
        loss = (torch.ones(4, 8) @ w).sum()
        loss.backward()
        if len(calls) == 2:  # step 1
            with torch.no_grad():
                for _ in range(100):
                    torch.ones(4, 8) @ w

    run = capture(tmp_path / "run", step, steps=20)
    assert run.probe["steps"] == [1, 16] and run.probe["step"] == 16
    assert run.probe["torch_calls"] < 20
