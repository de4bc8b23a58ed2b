"""Precision and recall on the reference loop: every injected anti-pattern is found, and the
clean loops give no warning or error. Realistic scripts of our own check the same through
`perfkit run`, each with a clean twin."""

from __future__ import annotations

import pytest

from perfkit.analysis.engine import analyze
from perfkit.analysis.inputs import load_inputs
from perfkit.analysis.model import Severity
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
# script stem -> the rule its anti-pattern must trigger; each has a *_clean twin.
REALISTIC = {
    "csv_logging": "host-sync",
    "running_loss": "graph-leak",
    "validate_with_grad": "eval-grad",
    "slow_augment": "data-starved",
}


@pytest.mark.parametrize("name", sorted(REALISTIC))
def test_realistic_script_and_its_clean_twin(tmp_path, name):
    rule = REALISTIC[name]
    for variant, expect in ((name, True), (f"{name}_clean", False)):
        out = tmp_path / variant
        result = perfkit_cli("run", "--window", "off", "-o", out, SCRIPTS / f"{variant}.py")
        assert result.returncode == 0, result.stderr
        report = analyze(load_inputs(out))
        rules = {f.rule for f in report.findings}
        loud = {f.rule for f in report.findings if f.severity >= Severity.WARNING}
        if expect:
            assert rule in rules, f"{variant}: {rule} not found in {sorted(rules)}"
        else:
            assert rule not in rules and not loud, f"{variant}: {sorted(rules)}"
