"""`perfkit report`, `rules`, `explain`, `compare` as users meet them, and the renderers."""

from __future__ import annotations

import gzip
import json

import pytest

from perfkit.analysis.engine import analyze
from perfkit.escape import printable
from perfkit.findings import Finding, Location, NotChecked, Report, Severity
from perfkit.report import FORMATS, render
from perfkit.rules import all_rules
from tests.test_cli import invoke


@pytest.fixture(scope="module")
def bad_run(reference_run):
    return reference_run("iris", "host-sync").path


@pytest.fixture(scope="module")
def clean_run(reference_run):
    return reference_run("iris", None).path


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_format_renders_a_real_run(capsys, bad_run, fmt):
    code, out, _ = invoke(capsys, "report", bad_run, "--format", fmt)
    assert code == 0
    if fmt == "json":
        data = json.loads(out)
        assert data["schema"] == "perfkit.report/1"
        finding = next(f for f in data["findings"] if f["rule"] == "host-sync")
        assert set(finding) >= {
            "code",
            "rule",
            "severity",
            "message",
            "evidence",
            "locations",
            "fix",
            "saving_ms",
            "saving_pct",
        }
        assert finding["locations"][0]["code"] == "host_total += loss.item()"
    else:
        assert "PK101" in out and "host_total += loss.item()" in out.replace("\\", "")


def test_output_file_format_follows_the_extension(capsys, bad_run, tmp_path):
    out = tmp_path / "report.html"
    code, _, err = invoke(capsys, "report", bad_run, "-o", str(out))
    assert code == 0 and f"written to {out}" in err
    page = out.read_text()
    assert page.startswith("<!doctype html>") and '<svg class="chart"' in page
    # Self-contained: nothing to fetch; one script, the timeline's own.
    assert "http://" not in page and "https://" not in page and page.count("<script>") == 1


@pytest.mark.parametrize(("fail_on", "expected"), [("info", 1), ("warning", 1), ("error", 0)])
def test_fail_on_sets_the_exit_code(capsys, bad_run, fail_on, expected):
    code, _, _ = invoke(capsys, "report", bad_run, "--fail-on", fail_on)
    assert code == expected


def test_clean_run_passes_fail_on_warning(capsys, clean_run):
    code, out, _ = invoke(capsys, "report", clean_run, "--fail-on", "warning")
    assert code == 0 and "No problems found." in out


def test_select_and_ignore(capsys, bad_run):
    _, out, _ = invoke(capsys, "report", bad_run, "--format", "json", "--ignore", "host-sync")
    assert all(f["rule"] != "host-sync" for f in json.loads(out)["findings"])
    _, out, _ = invoke(capsys, "report", bad_run, "--format", "json", "--select", "PK5,PK101")
    assert {f["code"][:3] for f in json.loads(out)["findings"]} <= {"PK1", "PK5"}
    code, _, err = invoke(capsys, "report", bad_run, "--select", "PK999")
    assert code == 2 and "unknown rule 'PK999'" in err


def _write(path, content: bytes):
    path.write_bytes(content)
    return path


@pytest.mark.parametrize(
    ("name", "content", "problem"),
    [
        ("empty.json", b"", "the file is empty"),
        ("junk.json", b"\x00\x01binary junk", "not valid JSON"),
        ("truncated.json", b'{"traceEvents": [{"ph": "X"', "not valid JSON"),
        ("truncated.pt.trace.json.gz", gzip.compress(b'{"traceEvents": []}')[:-6], "gzip"),
        ("other.json", b'{"hello": 1}', "neither a perfkit run file nor"),
        (
            "run.json",
            json.dumps({"schema": "perfkit.run/7", "complete": True}).encode(),
            "newer perfkit",
        ),
        ("junk.pt.trace.json.gz", gzip.compress(b"\x00\xff" * 50), "not valid JSON"),
        ("bad-\udcff-name.json", b"{", "not valid JSON"),  # a file name that is not UTF-8
        ("deep.json", b"[" * 100_000, "not valid JSON"),
        (
            "run.json",
            json.dumps({"schema": "perfkit.run/1", "complete": True, "steps": "many"}).encode(),
            "missing field 'env'",
        ),
    ],
)
def test_bad_input_is_one_line_and_exit_2(capsys, tmp_path, name, content, problem):
    path = _write(tmp_path / name, content)
    code, out, err = invoke(capsys, "report", str(path))
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and printable(str(path)) in err and problem in err
    assert "Traceback" not in err


def test_bad_input_to_compare_and_tensorboard_is_one_line_and_exit_2(capsys, tmp_path, bad_run):
    empty = _write(tmp_path / "empty.pt.trace.json", b"")
    for args in (
        ("compare", str(empty), str(bad_run)),
        ("compare", str(bad_run), str(tmp_path / "nope")),
        ("tensorboard", str(tmp_path / "nope")),
        ("tensorboard", str(empty)),
    ):
        code, out, err = invoke(capsys, *args)
        assert code == 2 and err.count("\n") == 1 and "Traceback" not in err, (args, err)


def test_valid_json_that_orjson_refuses_still_loads(capsys, tmp_path):
    """Integers beyond 64 bits are valid JSON: the stdlib reads what orjson cannot."""
    events = [{"ph": "X", "cat": "kernel", "name": "k", "ts": 10**30, "dur": 10**25}]
    path = _write(tmp_path / "big.pt.trace.json", json.dumps({"traceEvents": events}).encode())
    code, out, err = invoke(capsys, "report", str(path), "-f", "json")
    assert code == 0 and json.loads(out)["summary"]["sources"] == [str(path)]


def test_missing_path_and_empty_directory(capsys, tmp_path):
    code, _, err = invoke(capsys, "report", str(tmp_path / "nope"))
    assert code == 2 and "no such file or directory" in err
    code, _, err = invoke(capsys, "report", str(tmp_path))
    assert code == 2 and "no run.json and no *.pt.trace.json" in err


def test_rules_and_explain(capsys):
    code, out, _ = invoke(capsys, "rules")
    assert code == 0 and all(r.code in out and r.slug in out for r in all_rules())
    for key in ("PK101", "host-sync", "pk301"):
        code, out, _ = invoke(capsys, "explain", key)
        assert code == 0
        assert "Why it is slow" in out and "Fix" in out and "Example" in out
    code, _, err = invoke(capsys, "explain", "nope")
    assert code == 2 and "unknown rule" in err


def test_every_rule_is_documented():
    for rule in all_rules():
        assert rule.code.startswith("PK") and rule.slug and rule.title
        assert len(rule.why) > 40 and rule.fix and rule.example and rule.reads
        module = __import__(rule.check.__module__, fromlist=["_"])
        assert module.__doc__ and module.__doc__.startswith(rule.code)


def test_compare_reports_the_speedup_and_fixed_findings(capsys, reference_run):
    bad = reference_run("iris", "launch-bound").path
    good = reference_run("iris", None).path
    code, out, _ = invoke(capsys, "compare", bad, good, "--format", "json")
    data = json.loads(out)
    assert code == 0 and data["speedup"] > 3  # the per-sample loop is far slower
    assert "PK401 launch-bound" in data["fixed"] and data["new_findings"] == []
    code, out, _ = invoke(capsys, "compare", bad, good)
    assert "speedup" in out and "faster" in out


# -- renderers over synthetic reports (hostile strings: tests/test_escape.py) ------------


def _report(n_findings: int) -> Report:
    text = "plain"
    findings = tuple(
        Finding(
            code="PK101",
            rule="host-sync",
            severity=Severity(1 + i % 3),
            message=f"message {i} {text}",
            evidence={"k": text},
            fix=f"fix {text}",
            locations=(
                Location(file=f"/tmp/{text}.py", line=3, function=text, code=text, count=2),
            ),
            saving_ms=1.5 if i % 2 else None,
            saving_pct=10.0 if i % 2 else None,
            saving_reason=text,
            source=f"/runs/{text}",
        )
        for i in range(n_findings)
    )
    return Report(
        summary={
            "sources": [text],
            "median_step_ms": 2.0,
            "steps": 3,
            "step_source": text,
            "device": {"name": text},
            "env": {"host": text},
            "trace": {"top_ops": [[text, 1, 10.0, 4.0, 0.4]], "top_kernels": [], "device": {}},
        },
        findings=findings,
        not_checked=(NotChecked("PK601", "rank-straggler", text),),
        sources=(text,),
    )


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("n", [0, 1, 5])
def test_renderers_handle_empty_one_and_many(fmt, n):
    out = render(_report(n), fmt)
    assert out.strip()
    if n == 0 and fmt in ("terminal", "markdown", "html", "github"):
        assert "No problems found." in out


def test_a_broken_rule_does_not_take_the_report_down(reference_run):
    from dataclasses import replace

    from perfkit.analysis.engine import analyze
    from perfkit.analysis.inputs import load_inputs
    from perfkit.rules import all_rules

    def boom(ev):
        raise ZeroDivisionError("division by zero")

    rules = [replace(r, check=boom) if r.slug == "host-sync" else r for r in all_rules()]
    report = analyze(load_inputs(reference_run("iris", "host-sync").path), rules)
    [broken] = [n for n in report.not_checked if n.rule == "host-sync"]
    assert broken.reason.startswith("internal error in the rule (ZeroDivisionError")


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_file_name_that_is_not_utf8_is_shown_escaped(capsys, tmp_path, fmt):
    events = [{"ph": "X", "cat": "cpu_op", "name": "ProfilerStep#1", "ts": 1, "dur": 100}]
    path = _write(tmp_path / "tr\udcff.pt.trace.json", json.dumps({"traceEvents": events}).encode())
    out_file = tmp_path / f"report.{fmt}"
    code, _, err = invoke(capsys, "report", str(path), "-f", fmt, "-o", str(out_file))
    assert code == 0, err
    text = out_file.read_text(encoding="utf-8")
    if fmt == "json":  # a JSON escape: the exact file name comes back when decoded
        assert json.loads(text)["summary"]["sources"] == [str(path)]
    elif fmt == "sarif":  # a URI: the byte percent-encoded
        [artifact] = json.loads(text)["runs"][0]["artifacts"]
        assert artifact["location"]["uri"].endswith("/tr%FF.pt.trace.json")
    else:
        assert "tr\\xff.pt.trace.json" in text


def run_with_syncs_at(**site: str) -> dict:
    """A run file's JSON with a host sync each step at one line (``site`` overrides its
    ``function``, ``file``, ``code``)."""
    from tests.test_judgement import cpu_run

    run = cpu_run()
    run["sites"] = [{**run["sites"][0], "code": "x.item()", **site}]
    for step in run["steps"]:
        step["events"] = {"syncs": {"count": 1, "sites": [{"site": 0, "kind": "item", "count": 1}]}}
    return run


def test_a_dollar_in_a_users_name_is_shown_as_written():
    from perfkit.evidence import Evidence
    from perfkit.runfile import run_from_dict

    run = run_with_syncs_at(function="$\\foo{$")
    run["samples"] = {"series": {"t": [0.1, 0.2, 0.3], "cpu_percent": [5, 6, 7, 8, 9]}}
    report = analyze([Evidence(run=run_from_dict(run))])
    assert report.summary["top_sync_sites"][0]["site"].endswith("$\\foo{$")
    html = render(report, "html")
    assert "could not be drawn" not in html and html.count('<svg class="chart"') >= 2
    assert "$\\foo{$</code>" in html


def test_a_plot_that_fails_costs_that_plot_only(monkeypatch):
    from perfkit.evidence import Evidence
    from perfkit.report import plots
    from perfkit.runfile import run_from_dict

    def broken(*args, **kwargs):
        raise ValueError("bad series")

    monkeypatch.setattr(plots, "per_step", broken)
    report = analyze([Evidence(run=run_from_dict(run_with_syncs_at(function="train")))])
    html = render(report, "html")
    assert "a plot could not be drawn (ValueError: bad series)" in html
    assert '<svg class="chart"' in html and "PK101" in html
