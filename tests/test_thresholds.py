"""Rule thresholds a project sets in [tool.perfkit.thresholds] (issue 15): each rule declares
its own with a default, the project's value changes the verdict, and a bad key or value is
one line and exit 2."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

import perfkit
from perfkit.errors import InputError
from perfkit.evidence import Evidence
from perfkit.rules import all_rules, find_rule, thresholds_from_table
from perfkit.thresholds import SEVERITY
from tests.conftest import REPO
from tests.test_cli import invoke

BEFORE = REPO / "reports" / "runs" / "before"  # a real capture: the CNN, waiting 33 ms for data
FIXTURES = REPO / "tests" / "rules"


def _project(tmp_path, table: str):
    (tmp_path / "pyproject.toml").write_text(f'[project]\nname = "x"\n\n{table}')
    return tmp_path


def _codes(path, select, thresholds=None) -> list[str]:
    report = perfkit.analyze(path, select=select, thresholds=thresholds)
    return [f.code for f in report.findings]


def test_a_threshold_in_the_project_changes_the_verdict_on_a_real_run(
    tmp_path, capsys, monkeypatch
):
    code, out, _ = invoke(capsys, "report", str(BEFORE), "-f", "json", "--select", "PK301")
    [starved] = json.loads(out)["findings"]
    assert starved["evidence"]["data_wait_ms"] > 30 and "thresholds" not in starved["evidence"]
    monkeypatch.chdir(
        _project(tmp_path, "[tool.perfkit.thresholds.data-starved]\nmin-wait-ms = 50\n")
    )
    code, out, _ = invoke(capsys, "report", str(BEFORE), "-f", "json", "--select", "PK301")
    report = json.loads(out)
    assert code == 0 and report["findings"] == []
    assert report["summary"]["thresholds"] == ["data-starved min-wait-ms 50 (default 2)"]


def test_the_severity_cut_offs_apply_to_every_rule_and_findings_say_what_was_set(tmp_path):
    assert perfkit.analyze(BEFORE, select=["PK301"]).findings[0].severity.name == "ERROR"
    tuned = {"warning-share": 0.5, "error-share": 0.9, "PK301": {"min-wait-ms": 10}}
    [finding] = perfkit.analyze(BEFORE, select=["PK301"], thresholds=tuned).findings
    assert finding.severity.name == "INFO"  # it saves ~30% of the step: under 50% now
    assert finding.evidence["thresholds"] == {"min-wait-ms": 10.0}


@pytest.mark.parametrize(
    ("fixture", "code", "thresholds", "found"),
    [
        ("PK204/clean.json", "PK204", {"near-oom": {"peak-share": 0.04}}, True),
        ("PK204/trigger.json", "PK204", {"near-oom": {"peak-share": 0.99}}, False),
        ("PK403/trigger.json", "PK403", {"low-utilization": {"busy-share": 0.1}}, False),
        ("PK601/trigger", "PK601", {"rank-straggler": {"min-excess-ms": 20}}, False),
        ("PK601/trigger", "PK601", {"rank-straggler": {"min-excess-share": 0.7}}, False),
        ("PK301/trigger.json", "PK301", {"data-starved": {"min-share": 1}}, False),
    ],
)
def test_an_override_turns_a_fixtures_verdict(fixture, code, thresholds, found):
    """The fixture's verdict without the override is the opposite (test_rule_fixtures)."""
    path = FIXTURES / fixture
    assert (code in _codes(path, [code])) is not found
    assert (code in _codes(path, [code], thresholds)) is found


@pytest.mark.parametrize(
    ("table", "problem"),
    [
        (
            "[tool.perfkit.thresholds.data-starve]\nmin-wait-ms = 5\n",
            "[tool.perfkit.thresholds] unknown rule 'data-starve' (did you mean 'data-starved'?)",
        ),
        (
            "[tool.perfkit.thresholds.data-starved]\nmin-wait = 5\n",
            "[tool.perfkit.thresholds.data-starved] min-wait is not a threshold (did you mean "
            "'min-wait-ms'?); PK301 data-starved has min-wait-ms, min-share",
        ),
        (
            '[tool.perfkit.thresholds.PK301]\nmin-wait-ms = "5"\n',
            "[tool.perfkit.thresholds.PK301] min-wait-ms should be a number >= 0 (default 2), "
            "not '5'",
        ),
        (
            "[tool.perfkit.thresholds.near-oom]\npeak-share = 1.5\n",
            "peak-share should be a share between 0 and 1 (default 0.9), not 1.5",
        ),
        (
            "[tool.perfkit.thresholds]\nwarning-shar = 0.1\n",
            "warning-shar is not a threshold (did you mean 'warning-share'?)",
        ),
        ("[tool.perfkit.thresholds]\nerror-share = true\n", "error-share should be a share"),
        (
            "[tool.perfkit.thresholds.zero-grad-fill]\nx = 1\n",
            "PK501 zero-grad-fill has no thresholds to set",
        ),
        (
            "[tool.perfkit.thresholds]\nwarning-share = 0.5\nerror-share = 0.3\n",
            "warning-share (0.5) should not be above error-share (0.3)",
        ),
        (
            "[tool.perfkit.thresholds]\nPK301 = {min-wait-ms = 1}\n"
            "data-starved = {min-share = 0.1}\n",
            "data-starved: PK301 data-starved is given twice",
        ),
        ("[tool.perfkit]\nthresholds = 3\n", "thresholds should be a table"),
    ],
)
def test_a_bad_threshold_is_one_line_naming_the_file_and_the_key(
    tmp_path, capsys, monkeypatch, table, problem
):
    monkeypatch.chdir(_project(tmp_path, table))
    code, _, err = invoke(capsys, "report", str(BEFORE))
    assert code == 2 and f"{tmp_path / 'pyproject.toml'}: " in err and problem in err, err
    assert len(err.strip().splitlines()) == 1


def test_perfkit_run_refuses_a_bad_threshold_before_training(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(_project(tmp_path, "[tool.perfkit.thresholds.near-oom]\npeak = 1\n"))
    (tmp_path / "train.py").write_text("raise SystemExit('trained')\n")
    code, _, err = invoke(capsys, "run", "train.py")
    assert code == 2 and "peak is not a threshold" in err and "trained" not in err


def test_the_api_checks_thresholds_as_the_table_is_checked():
    with pytest.raises(InputError, match=r"unknown rule 'nope'"):
        perfkit.analyze(BEFORE, thresholds={"nope": {"x": 1}})


def test_capture_reads_the_project_without_loading_the_rules(tmp_path):
    """A decorated script finds its run folder in [tool.perfkit]; the thresholds there are
    for the report, and loading the rules to check them would cost the training."""
    _project(tmp_path, '[tool.perfkit]\noutput = "runs"\n[tool.perfkit.thresholds]\nx = 1\n')
    probe = (
        "import sys; from perfkit.capture.rundir import default_root; "
        "print(default_root(), 'perfkit.rules' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], cwd=tmp_path, capture_output=True, text=True, check=True
    )
    assert out.stdout.split() == ["runs", "False"], out.stderr


def test_rules_and_explain_list_each_rules_thresholds_and_defaults(capsys):
    code, out, _ = invoke(capsys, "rules")
    assert code == 0 and "thresholds: min-wait-ms 2, min-share 0.05" in out
    assert "warning-share 0.05, error-share 0.2" in out
    code, out, _ = invoke(capsys, "explain", "near-oom")
    assert code == 0 and "[tool.perfkit.thresholds.near-oom]" in out
    assert "peak-share = 0.9: a peak of allocated memory" in out


def test_every_threshold_is_declared_once_with_a_meaning_and_a_valid_default():
    tuned = [r for r in all_rules() if r.thresholds]
    assert len(tuned) >= 5  # a handful of rules, and the mechanism is generic
    for rule in tuned:
        for t in rule.thresholds:
            assert t.meaning and not t.problem(t.default), (rule.code, t.name)
            # each reads back as its own default through the table's checks
            assert thresholds_from_table({rule.slug: {t.name: t.default}}) == {
                rule.code: {t.name: t.default}
            }
    assert [t.name for t in SEVERITY] == ["warning-share", "error-share"]
    assert find_rule("data-starved").threshold(Evidence(), "min-wait-ms") == 2.0


def test_the_terminal_header_says_which_thresholds_the_project_set(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(_project(tmp_path, "[tool.perfkit.thresholds]\nwarning-share = 0.08\n"))
    code, out, _ = invoke(capsys, "report", str(BEFORE), "--select", "PK3")
    assert "thresholds set by the project: warning-share 0.08 (default 0.05)" in out
    code, out, _ = invoke(capsys, "report", str(BEFORE), "-f", "markdown", "--select", "PK3")
    assert "- **Thresholds:** warning-share 0.08 (default 0.05)" in out
