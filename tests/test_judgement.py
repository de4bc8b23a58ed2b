"""How the engine and rules judge, on hand-built run files: what a report says first, when
it may say "No problems found", savings that never add up to more than the step, and the
saving of more DataLoader workers bounded by compute and cores."""

from __future__ import annotations

import copy
import json

import pytest

from perfkit.analysis.engine import analyze
from perfkit.analysis.judge import cap_savings
from perfkit.evidence import Evidence
from perfkit.findings import Finding, Severity
from perfkit.report import FORMATS, render
from perfkit.rules import find_rule
from perfkit.runfile import run_from_dict
from tests.test_gpu_rules import gpu_run


def cpu_run(**changes) -> dict:
    run = copy.deepcopy(gpu_run(steps=12))
    run["env"] = {"device": {"type": "cpu", "name": "x86_64"}, "cpu_count": 2, "cpu_available": 2}
    run["capture"] = {"accelerator": False, "step_source": "optimizer"}
    run.update(changes)
    return run


def report(run: dict, rules=None):
    rules = None if rules is None else [find_rule(r) for r in rules]
    return analyze([Evidence(run=run_from_dict(run))], rules)


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_crashed_and_incomplete_run_says_so_before_anything_else(fmt):
    run = cpu_run(complete=False)
    run["env"]["error"] = "RuntimeError: CUDA out of memory"
    text = render(report(run), fmt)
    notice = "the training stopped with RuntimeError: CUDA out of memory after 12 steps"
    assert notice in text and "incomplete run" in text
    if fmt == "json":
        assert json.loads(text)["summary"]["notices"][0].startswith("the training stopped")
    elif fmt == "sarif":  # the rule catalogue comes first; the notices lead the invocation's
        notes = json.loads(text)["runs"][0]["invocations"][0]["toolExecutionNotifications"]
        assert notes[0]["level"] == "warning"
        assert notes[0]["message"]["text"].startswith("the training stopped")
    else:
        first_finding = min(
            (text.find(k) for k in ("PK", "No problems", "Nothing could") if k in text),
            default=len(text),
        )
        assert text.index(notice) < first_finding


def test_no_problems_only_when_some_rule_could_judge():
    clean = render(report(cpu_run(), ["eval-grad"]), "terminal")
    assert "No problems found." in clean
    trace_rules_only = render(report(cpu_run(), ["comm-bound", "rank-straggler"]), "terminal")
    assert "No problems found." not in trace_rules_only
    assert "Nothing could be judged" in trace_rules_only
    nothing = report(cpu_run(), [])
    assert nothing.summary["notices"] == [
        "no rule was selected: nothing was checked (see --select/--ignore)"
    ]


@pytest.mark.parametrize("fmt", ["terminal", "markdown"])
def test_a_crash_before_the_first_step_is_one_short_line_and_no_verdict(fmt):
    """torch.load's refusal: a long message of several lines with terminal styling codes.
    The notice keeps its first line (the run file keeps it whole); with no step there is
    nothing to call clean."""
    run = cpu_run(steps=[])
    run["env"]["error"] = (
        "UnpicklingError: Weights only load failed, \x1b[1mdo those steps only if you trust "
        "the source\x1b[0m. \n\t(1) In PyTorch 2.6, we changed the default value ..."
    )
    text = render(report(run), fmt)
    notice = (
        "the training stopped with UnpicklingError: Weights only load failed, do those steps "
        "only if you trust the source. (1) In PyTorch 2.6, we changed the default value ... "
        "before the first step"
    )
    assert notice in " ".join(text.split())  # the terminal wraps long lines
    assert "x1b" not in text and "\\x0a" not in text and "covers the steps" not in text
    assert "No problems found." not in text
    assert "Nothing could be judged: no training steps were recorded." in text


def test_an_error_line_is_short_and_plain():
    from perfkit.analysis.notices import MAX_ERROR_CHARS, error_line

    assert error_line("ValueError: bad") == "ValueError: bad"
    assert error_line("E: \x1b[31mred\x1b[0m text") == "E: red text"
    assert error_line("Foo: \nthe real text\n\tmore") == "Foo: the real text more"
    long = error_line("E: " + "x" * 500)
    assert len(long) == MAX_ERROR_CHARS and long.endswith("…")


def finding(saving_ms, source="run", code="PK1"):
    return Finding(code, code, Severity.WARNING, "m", {}, "f", saving_ms=saving_ms, source=source)


def test_overlapping_savings_never_add_up_to_more_than_the_step():
    capped = cap_savings(
        [finding(7.0, code="A"), finding(6.0, code="B"), finding(None, code="C")], {"run": 10.0}
    )
    by_code = {f.code: f for f in capped}
    assert by_code["A"].saving_ms == 7.0 and by_code["B"].saving_ms == 3.0
    assert by_code["B"].saving_pct == 30.0 and "Capped" in by_code["B"].saving_reason
    assert by_code["C"].saving_ms is None
    assert sum(f.saving_ms or 0 for f in capped) <= 10.0


def starved(workers: int, cores: int, wait: float = 30.0, wall: float = 40.0) -> dict:
    run = cpu_run()
    run["env"]["cpu_available"] = cores
    run["config"]["dataloaders"] = [{"num_workers": workers, "site": 0}]
    for step in run["steps"]:
        step.update(wall_ms=wall, outside_ms=0.0, data_wait_ms=wait)
    return run


def test_more_workers_save_at_most_the_compute_the_spare_cores_can_overlap():
    # 30 ms of loading, 10 ms of compute: one spare core hides 10 ms, three hide 20 ms.
    [two_cores] = report(starved(0, cores=2), ["data-starved"]).findings
    assert two_cores.saving_ms == pytest.approx(10.0)
    assert "pin_memory" not in two_cores.fix  # a CPU run: nothing to pin for
    [four_cores] = report(starved(0, cores=4), ["data-starved"]).findings
    assert four_cores.saving_ms == pytest.approx(30.0)
    assert four_cores.locations[0].code == "x = x.to(device)"  # the loader's line


def test_no_more_workers_than_cores_is_said_and_not_flagged():
    [f] = report(starved(1, cores=2), ["data-starved"]).findings
    assert f.saving_ms == 0 and f.severity == Severity.INFO
    assert "more workers cannot help on 2 core(s)" in f.message


def sync_step(sites: list[tuple[int, str, int]]) -> dict:
    listed = [{"site": s, "kind": k, "count": n} for s, k, n in sites]
    return {"syncs": {"count": sum(n for _, _, n in sites), "sites": listed}}


def with_sites(run: dict, *codes: str) -> dict:
    run["sites"] = [dict(run["sites"][0], line=10 + i, code=c) for i, c in enumerate(codes)]
    return run


def test_reads_of_host_data_are_not_syncs():
    run = with_sites(cpu_run(), "x = data[i:i+n]", "losses.append(loss.item())")
    for step in run["steps"]:
        step["events"] = sync_step([(0, "index", 64), (1, "item", 1)])
    run["probe"] = {"torch_calls": 20, "host_read_sites": [0], "device_read_sites": [1]}
    [f] = report(run, ["host-sync"]).findings
    assert f.evidence["syncs_per_step"] == 1
    assert [loc.code for loc in f.locations] == ["losses.append(loss.item())"]


def test_syncs_only_inside_a_library_are_noted_with_its_own_fix():
    run = with_sites(cpu_run(), "trainer.train()")
    for step in run["steps"]:
        step["events"] = sync_step([(0, "bool in transformers/trainer.py", 2)])
    [f] = report(run, ["host-sync"]).findings
    assert f.severity == Severity.INFO
    assert "inside transformers/trainer.py" in f.message
    assert "logging_nan_inf_filter=False" in f.fix


def test_a_library_read_once_an_epoch_is_not_a_share_of_the_steps_syncs():
    """pytorch/examples' vae: `train_loss += loss.item()` every step; torchvision's
    save_image in the test pass, inside one automatic step an epoch. The message's shares
    are of the recurring syncs: no "(4% inside torchvision/utils.py)" beside "100%"."""
    run = with_sites(cpu_run(), "train_loss += loss.item()", "save_image(comparison.cpu())")
    for i, step in enumerate(run["steps"]):
        once = [(1, "tolist in torchvision/utils.py", 6)] if i == 6 else []
        step["events"] = sync_step([(0, "item", 1), *once])
    [f] = report(run, ["host-sync"]).findings
    assert "100% at train.py:10" in f.message and "inside" not in f.message
    assert f.evidence["inside_libraries"] == {} and f.severity == Severity.WARNING


def test_a_sync_that_recurs_leads_and_a_once_an_epoch_one_is_left_out():
    run = with_sites(cpu_run(), "total += loss.item()", "print(accuracy.item())")
    for i, step in enumerate(run["steps"]):
        step["events"] = sync_step([(0, "item", 1)] + ([(1, "item", 50)] if i == 6 else []))
    [f] = report(run, ["host-sync"]).findings
    assert [loc.code for loc in f.locations] == ["total += loss.item()"]
    assert "100% at" in f.message


def test_syncs_after_a_decorated_loop_are_not_per_step_but_between_steps_are(tmp_path):
    import torch

    from perfkit import analyze as analyze_path
    from perfkit.capture.session import Session
    from perfkit.capture.step import profile_step

    w = torch.ones(4, requires_grad=True)

    @profile_step
    def step():
        (w * 2).sum().backward()

    def loss():
        return (w * 3).sum()

    for name, between in (("between", True), ("after", False)):
        with Session(tmp_path / name, window=None, sample_hz=0, quiet=True):
            for _ in range(20):
                step()
                if between:
                    loss().item()
            for _ in range(40 if not between else 0):  # an evaluation after training
                loss().item()
        rules = {f.rule for f in analyze_path(tmp_path / name).findings}
        assert ("host-sync" in rules) == between, (name, rules)


@pytest.mark.parametrize("ops_followed", [True, False])
def test_reads_of_tensors_made_before_the_step_are_syncs_and_of_host_indices_are_not(
    tmp_path, monkeypatch, ops_followed
):
    """A script that builds its data with device=device up front (no autograd, manual
    updates) syncs at loss.item() on a GPU; an index drawn on the host in the step and used
    to slice numpy does not. The same verdict when the probe step cannot follow ops (the
    script uses torch.compile, as nanoGPT does by default)."""
    import numpy as np
    import torch

    from perfkit import analyze as analyze_path
    from perfkit.capture import probe_step
    from tests.conftest import capture

    if not ops_followed:
        monkeypatch.setattr(probe_step, "compiled_code_ran", lambda: True)

    x, w = torch.randn(64, 32), torch.randn(32, 8)
    table = np.arange(1000)

    def step():
        nonlocal w
        loss = (x @ w).pow(2).sum()
        w -= 1e-6 * x.t() @ (x @ w)
        ix = torch.randint(0, 990, (16,))
        rows = [table[i : i + 4] for i in ix]  # __index__ on host tensors
        return loss.item(), rows

    capture(tmp_path / "run", step, steps=20)
    report = analyze_path(tmp_path / "run")
    [sync] = [f for f in report.findings if f.rule == "host-sync"]
    assert sync.evidence["syncs_per_step"] == 1
    assert [loc.code for loc in sync.locations] == ["return loss.item(), rows"]
    if not ops_followed:  # launch-bound says why it could not judge
        [reason] = [n.reason for n in report.not_checked if n.rule == "launch-bound"]
        assert "torch.compile is in use" in reason


@pytest.mark.parametrize("ops_followed", [True, False])
def test_a_models_output_used_as_an_index_under_no_grad_is_a_sync(
    tmp_path, monkeypatch, ops_followed
):
    """`table[model(x).argmax()]` under no_grad: the output has no autograd history, yet
    on a GPU run it is device data; reading it as an index waits for the GPU."""
    import numpy as np
    import torch

    from perfkit import analyze as analyze_path
    from perfkit.capture import probe_step
    from tests.conftest import capture

    if not ops_followed:
        monkeypatch.setattr(probe_step, "compiled_code_ran", lambda: True)
    model, x, table = torch.nn.Linear(8, 4), torch.randn(2, 8), np.arange(100)

    def step():
        with torch.no_grad():
            return table[model(x).argmax()]

    capture(tmp_path / "run", step, steps=20)
    [sync] = [f for f in analyze_path(tmp_path / "run").findings if f.rule == "host-sync"]
    assert sync.evidence["syncs_per_step"] == 1
    assert [loc.code for loc in sync.locations] == ["return table[model(x).argmax()]"]


def test_the_engine_says_what_a_rule_lacks_from_its_declared_needs():
    """Rules declare needs and scope; the reason for "not checked" comes from the engine."""
    reasons = {n.rule: n.reason for n in report(cpu_run()).not_checked}
    assert reasons["blocking-copy"] == "needs a GPU run (this one ran on the CPU)"
    assert reasons["rank-straggler"] == "needs the runs or traces of several ranks of one job"
    # Alternatives: a GPU trace, or a GPU run file; on a CPU run only the GPU is missing.
    assert reasons["pageable-copy"] == "needs a GPU run (this one ran on the CPU)"
    unprobed = {n.rule: n.reason for n in report(cpu_run(probe={})).not_checked}
    assert unprobed["launch-bound"] == (
        "needs a GPU trace (none was recorded or it is empty), or the probe step (probe_step=True)"
    )
    trace_only = {n.rule: n.reason for n in analyze([Evidence()]).not_checked}
    assert trace_only["launch-bound"] == (
        "needs a GPU trace (none was recorded or it is empty), or a run file (this is a trace only)"
    )
    scanned = cpu_run()
    scanned["graph_scans"] = []
    assert "graph-leak" in {n.rule for n in report(scanned).not_checked}
    assert {n.rule: n.reason for n in report(scanned).not_checked}["graph-leak"] == (
        "needs at least 3 heap scans (run longer, or graph_scan=True)"
    )


def test_every_saving_share_uses_the_median_step_of_its_source():
    run = starved(0, cores=4)
    run["steps"][5]["wall_ms"] = 400.0  # one slow step moves the mean, not the median
    [f] = report(run, ["data-starved"]).findings
    assert f.saving_ms == pytest.approx(30.0) and f.saving_pct == 75.0


def test_the_slowest_rank_of_ranks_in_lockstep_is_the_one_that_waits_for_data():
    """In lockstep every rank's step lasts as long; the header names the rank the others
    wait for (the straggler's finding's rank), not the first of equals."""
    from perfkit.analysis.inputs import load_inputs
    from tests.conftest import REPO

    report = analyze(load_inputs(REPO / "tests" / "rules" / "PK601" / "trigger"))
    [straggler] = [f for f in report.findings if f.code == "PK601"]
    assert report.summary["slowest_rank"]["rank"] == straggler.evidence["rank"] == 2
