"""Precision and recall on the reference loop: every injected anti-pattern is found, and the
clean loops give no warning or error. Realistic scripts of our own check the same through
`perfkit run`, each with a clean twin."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from perfkit.analysis.engine import analyze
from perfkit.analysis.inputs import load_inputs
from perfkit.findings import Severity
from perfkit.reference import INJECTIONS
from tests.conftest import REPO, perfkit_cli

# Single-process injections that happen on a CPU (rank-straggler is proven in test_ddp).
CPU_SLUGS = sorted(s for s, inj in INJECTIONS.items() if not inj.needs_gpu and not inj.needs_ddp)


def _report(run):
    return analyze(load_inputs(run.path))


@pytest.mark.parametrize("slug", CPU_SLUGS)
def test_injected_anti_pattern_is_found(reference_run, slug):
    report = _report(reference_run(INJECTIONS[slug].presets[0], slug))
    found = {f.rule for f in report.findings}
    assert slug in found, f"{slug} not found; got {sorted(found)}"
    finding = next(f for f in report.findings if f.rule == slug)
    assert finding.message and finding.fix and finding.evidence


@pytest.mark.parametrize("preset", ["iris", "cnn"])
def test_clean_loop_gives_no_warning(reference_run, preset):
    report = _report(reference_run(preset, None))
    loud = [(f.code, f.message) for f in report.findings if f.severity >= Severity.WARNING]
    assert loud == []


SCRIPTS = REPO / "tests" / "scripts" / "realistic"


@dataclass(frozen=True)
class Pair:
    """A realistic script with one anti-pattern, and its *_clean twin that only fixes it."""

    rule: str  # what the anti-pattern must trigger
    steps: int  # training steps in both: optimizer steps, or decorated calls
    clean_note: bool = False  # the twin may still carry the rule as info (see below)


REALISTIC = {
    "csv_logging": Pair("host-sync", 64),
    "running_loss": Pair("graph-leak", 60),
    "validate_with_grad": Pair("eval-grad", 40),
    "slow_augment": Pair("data-starved", 20),
    # Four micro-batches per optimizer step: steps are the optimizer's.
    "grad_accum": Pair("host-sync", 48),
    # Two optimizers step every iteration: one step per iteration.
    "gan": Pair("graph-leak", 200),
    # LBFGS reads the loss back inside torch on every iteration: the twin keeps those syncs,
    # noted as info (nothing in the user's code to change); only the closure's are flagged.
    "lbfgs": Pair("host-sync", 80, clean_note=True),
    # Optimizer A for 120 steps, then optimizer B for 120: both phases count.
    "layerwise": Pair("direct-forward", 240),
    # The running total is reset every epoch: a sawtooth, still a leak.
    "epoch_reset_leak": Pair("graph-leak", 200),
    # Outputs kept for the whole run; the twin keeps one snapshot per epoch and Adam's state.
    "kept_outputs": Pair("memory-growth", 160),
    # nanoGPT-style batches sliced from numpy with host-side index tensors.
    "host_index": Pair("host-sync", 120),
    "many_small_modules": Pair("launch-bound", 120),
    "rnn_cell_loop": Pair("launch-bound", 60),
    # The sync is in the loop body around a decorated step.
    "sync_around_step": Pair("host-sync", 96),
}


def _capture(out_root, variant):
    out = out_root / variant
    result = perfkit_cli("run", "--window", "off", "-o", out, SCRIPTS / f"{variant}.py")
    assert result.returncode == 0, result.stderr
    return load_inputs(out)


@pytest.fixture(scope="module")
def realistic(tmp_path_factory):
    """realistic(variant) -> its loaded run, captured once for all the tests below."""
    cache = {}

    def get(variant):
        if variant not in cache:
            cache[variant] = _capture(tmp_path_factory.mktemp("realistic"), variant)
        return cache[variant]

    return get


@pytest.mark.parametrize("name", sorted(REALISTIC))
def test_realistic_script_and_its_clean_twin(realistic, name):
    pair = REALISTIC[name]
    for variant, expect in ((name, True), (f"{name}_clean", False)):
        units = realistic(variant)
        assert len(units[0].run.steps) == pair.steps, f"{variant}: steps"
        report = analyze(units)
        rules = {f.rule for f in report.findings}
        loud = {f.rule for f in report.findings if f.severity >= Severity.WARNING}
        if expect:
            assert pair.rule in rules, f"{variant}: {pair.rule} not found in {sorted(rules)}"
        else:
            quiet = pair.rule not in rules or pair.clean_note
            assert quiet and not loud, f"{variant}: {sorted(rules)}"


def _finding(realistic, variant, rule):
    return next(f for f in analyze(realistic(variant)).findings if f.rule == rule)


def test_host_index_tensors_are_not_syncs_and_the_loss_read_is(realistic):
    finding = _finding(realistic, "host_index", "host-sync")
    assert finding.evidence["syncs_per_step"] == 1
    assert [loc.code for loc in finding.locations] == ["losses.append(loss.item())"]


def test_a_leak_names_the_variable_that_keeps_it(realistic):
    finding = _finding(realistic, "epoch_reset_leak", "graph-leak")
    assert "`epoch_loss`" in finding.message
    assert finding.locations and "epoch_loss += loss" in finding.locations[0].code


def test_kept_outputs_name_the_list_that_keeps_them(realistic):
    finding = _finding(realistic, "kept_outputs", "memory-growth")
    assert "`outputs`" in finding.message
    assert finding.locations[0].code == "outputs.append(out.detach())"


def test_syncs_around_a_decorated_step_are_counted_per_iteration(realistic):
    finding = _finding(realistic, "sync_around_step", "host-sync")
    assert finding.evidence["outside_step_syncs_per_step"] == pytest.approx(1, abs=0.05)
    assert "total += loss.item()" in finding.locations[0].code


def test_lbfgs_syncs_inside_torch_are_told_apart_from_the_closures(realistic):
    finding = _finding(realistic, "lbfgs", "host-sync")
    assert finding.locations[0].code == "closure_losses.append(loss.item())"
    assert "torch/optim/lbfgs.py" in finding.message
    clean = _finding(realistic, "lbfgs_clean", "host-sync")
    assert clean.severity == Severity.INFO and "inside torch/optim/lbfgs.py" in clean.message
    assert clean.locations[0].via == "torch/optim/lbfgs.py"


# The verdicts that hang on sampling or timing: a leak seen through heap scans that land
# anywhere in a sawtooth, a data wait measured against the step. bench/determinism.py runs
# every realistic script this way.
@pytest.mark.parametrize("name", ["epoch_reset_leak", "slow_augment"])
def test_the_verdict_is_the_same_five_times(realistic, tmp_path, name):
    verdicts = set()
    for attempt in range(5):
        units = realistic(name) if attempt == 0 else _capture(tmp_path / str(attempt), name)
        report = analyze(units)
        verdicts.add(frozenset(f.rule for f in report.findings if f.severity >= Severity.WARNING))
    assert len(verdicts) == 1, verdicts
