"""Every rule is proven by fixtures in tests/rules/<CODE>/: a trigger it must flag and a clean
twin, one change away, it must judge and pass. A rule without them fails here.

A fixture is whatever ``perfkit report`` reads: a run file (``trigger.json``), a Kineto trace
(``trigger-trace.pt.trace.json``) or a run directory (``trigger/`` with ``run.json`` and
``traces/``, or one ``run.rank<R>.json`` per rank). ``trigger-<what>`` pairs with
``clean-<what>``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from perfkit.analysis.engine import analyze
from perfkit.analysis.inputs import load_inputs
from perfkit.rules import all_rules
from tests.conftest import REPO

FIXTURES = REPO / "tests" / "rules"
RULES = all_rules()


def kind_and_variant(path: Path) -> tuple[str, str]:
    """("trigger", "-trace") for trigger-trace.pt.trace.json, ("clean", "") for clean.json."""
    stem = path.name.split(".")[0]
    kind, _, variant = stem.partition("-")
    return kind, f"-{variant}" if variant else ""


def fixtures() -> list[tuple]:
    return [
        pytest.param(rule, path, id=f"{rule.code}/{path.name}")
        for rule in RULES
        if (FIXTURES / rule.code).is_dir()
        for path in sorted((FIXTURES / rule.code).iterdir())
    ]


@pytest.mark.parametrize("rule", RULES, ids=[r.code for r in RULES])
def test_every_rule_has_a_trigger_and_its_clean_twin(rule):
    folder = FIXTURES / rule.code
    assert folder.is_dir(), f"{rule.code} has no fixtures: add {folder.relative_to(REPO)}/"
    pairs = [kind_and_variant(p) for p in folder.iterdir()]
    assert {k for k, _ in pairs} == {"trigger", "clean"}, f"{rule.code}: only trigger*/clean*"
    for kind, variant in pairs:
        twin = ("clean" if kind == "trigger" else "trigger", variant)
        assert twin in pairs, f"{rule.code}: {kind}{variant} has no {twin[0]}{variant}"


@pytest.mark.parametrize(("rule", "path"), fixtures())
def test_the_trigger_is_flagged_and_the_clean_twin_judged_and_passed(rule, path):
    report = analyze(load_inputs(path), [rule])
    reasons = {n.code: n.reason for n in report.not_checked}
    assert rule.code not in reasons, f"{path.name} could not be judged: {reasons[rule.code]}"
    found = [f for f in report.findings if f.code == rule.code]
    if kind_and_variant(path)[0] == "trigger":
        assert len(found) == 1, f"{path.name}: {len(found)} findings"
        assert found[0].message and found[0].fix
    else:
        assert found == [], f"{path.name}: {found[0].message}"
