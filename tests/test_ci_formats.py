"""CI formats (issue 15): ``--format github`` writes workflow annotations that GitHub's
runner reads back as written, and ``--format sarif`` is valid against the published SARIF
2.1.0 schema and what code scanning accepts."""

from __future__ import annotations

import json
import os
import re
from dataclasses import replace
from urllib.parse import unquote

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jsonschema import FormatChecker
from jsonschema.validators import validator_for

from perfkit.analysis.engine import analyze
from perfkit.analysis.inputs import load_inputs
from perfkit.commands.output import HEAD_BYTES, is_report
from perfkit.escape import clean, github_data, github_property
from perfkit.findings import Location, Report, Severity
from perfkit.report import render
from perfkit.report.text import project_root, workspace_path
from tests.conftest import REPO, TRACES
from tests.test_cli import invoke
from tests.test_escape import (
    PIECES,
    UNSAFE,
    assert_shows,
    check_json,
    hostile_report,
    json_strings,
)

BEFORE = REPO / "reports" / "runs" / "before"
TRACE = TRACES / "hta-a100-alexnet-pageable-htod-syncs.pt.trace.json.gz"

# tests/test_escape.py's pieces, and what would end a workflow command or one of its values.
COMMAND_PIECES = ["%", "%0A", "%25", "%3A", ",", ":", "::", "::error::", "=", ",line=1,title=x"]
hostile = st.lists(
    st.sampled_from([*PIECES, *COMMAND_PIECES]) | st.text("ab .:/,%=", max_size=4),
    min_size=1,
    max_size=8,
).map("".join)

# -- GitHub workflow commands -----------------------------------------------------------

# "Workflow commands for GitHub Actions":
#   ::error file={name},line={line},endLine={endLine},title={title}::{message}
# (also warning and notice; col and endColumn too). The runner splits the properties at
# "," and a value at its first "=", ends them at the first "::", and decodes %25, %0D, %0A
# in the message, and %3A, %2C too in values: nothing else may hold "%", and no value a
# "," or ":" of its own.
_KEY = "(?:file|line|endLine|col|endColumn|title)"
_VALUE = "(?:[^%,:\r\n]|%(?:25|0D|0A|3A|2C))*"
_DATA = "(?:[^%\r\n]|%(?:25|0D|0A))*"
ANNOTATION = re.compile(
    f"::(?P<command>error|warning|notice)(?: {_KEY}={_VALUE}(?:,{_KEY}={_VALUE})*)?::{_DATA}"
)

# How actions/runner decodes (src/Runner.Common/ActionCommand.cs, _escapeDataMappings and
# _escapePropertyMappings, replaced in this order).
_DATA_CODES = (("%0D", "\r"), ("%0A", "\n"), ("%25", "%"))
_PROPERTY_CODES = (("%0D", "\r"), ("%0A", "\n"), ("%3A", ":"), ("%2C", ","), ("%25", "%"))


def _decode(text: str, codes: tuple[tuple[str, str], ...]) -> str:
    for code, char in codes:
        text = text.replace(code, char)
    return text


def runner_reads(line: str) -> tuple[str, dict[str, str], str] | None:
    """What GitHub's runner reads from a log line (ActionCommand.TryParseV2): the command,
    its properties and its data; None for a line that is not a command."""
    line = line.lstrip()
    end = line.find("::", 2)
    if not line.startswith("::") or end < 0:
        return None
    name, _, props = line[2:end].partition(" ")
    properties = {}
    for prop in props.strip().split(","):
        key, _, value = prop.partition("=")
        if key and value:
            properties[key] = _decode(value, _PROPERTY_CODES)
    return name, properties, _decode(line[end + 2 :], _DATA_CODES)


def test_github_escapes_are_the_documented_ones():
    assert github_data("100% done\nnext") == "100%25 done%0Anext"
    assert github_data("a\r\nb") == "a\\x0d%0Ab"  # CR shown, as in every format
    assert github_data("%0A stays text") == "%250A stays text"
    assert github_data("a::warning::b, c: d") == "a::warning::b, c: d"  # data may hold these
    assert github_property("a:b,c%\n") == "a%3Ab%2Cc%25%0A"
    assert github_property("x.py,line=1,title=CI passed") == "x.py%2Cline=1%2Ctitle=CI passed"
    # ANSI colours and bidi controls (the log renders the first) are shown escaped.
    assert github_data("\x1b[31mred\u202e") == "\\x1b[31mred\\u202e"


@settings(max_examples=200, deadline=None)
@given(text=hostile)
def test_the_runner_decodes_every_escaped_text_to_what_it_was(text):
    # Between brackets: the runner drops an empty value and trims the properties' ends.
    value = f"[{github_property(text)}]"
    line = f"::error file={value},title={value}::{github_data(text)}"
    assert ANNOTATION.fullmatch(line) and "\n" not in line and "\r" not in line
    shown = clean(text)
    assert runner_reads(line) == ("error", {"file": f"[{shown}]", "title": f"[{shown}]"}, shown)


def test_paths_are_relative_to_the_working_directory(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    assert workspace_path(str(tmp_path / "src" / "train.py")) == "src/train.py"
    assert workspace_path("src/./train.py") == "src/train.py"
    assert workspace_path(str(tmp_path / "a" / ".." / "b.py")) == "b.py"
    for outside in ("/usr/lib/python3/x.py", "../x.py", str(tmp_path / ".." / "x.py"), "", "."):
        assert workspace_path(outside) is None, outside
    # A run captured in another checkout is placed by the root it recorded.
    assert workspace_path("/ci/other/src/train.py", "/ci/other") == "src/train.py"
    assert workspace_path("/usr/lib/python3/x.py", "/ci/other") is None


COMMAND = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "notice"}


def check_github(out: str, report: Report) -> list[tuple[str, dict[str, str], str]]:
    """One annotation a finding and line (one for a finding without lines), each matching
    the documented syntax and read by the runner as meant, then one plain summary line.
    Returns what the runner reads from the annotations."""
    assert out.endswith("\n") and "\r" not in out and not UNSAFE.search(out), out
    *lines, summary = out[:-1].split("\n")
    assert runner_reads(summary) is None and summary.startswith("perfkit report ")
    read = []
    for line in lines:
        assert ANNOTATION.fullmatch(line), line
        read.append(runner_reads(line))
    notices = report.summary.get("notices") or []
    assert [r[0] for r in read[: len(notices)]] == ["warning"] * len(notices)
    expected = [(f, loc) for f in report.findings for loc in f.locations or [None]]
    assert len(read) == len(notices) + len(expected)
    for (f, loc), (command, props, message) in zip(expected, read[len(notices) :], strict=True):
        assert command == COMMAND[f.severity] and props["title"] == f"{f.code} {f.rule}"
        path = workspace_path(loc.file, project_root(report)) if loc else None
        assert props.get("file") == (clean(path) if path else None)
        assert props.get("line") == (str(loc.line) if path and loc and loc.line else None)
        assert_shows(message, f.message, f.fix)
        if loc and not path:  # the line is named in the message instead
            assert_shows(message, loc.file)
    return read


# -- SARIF ------------------------------------------------------------------------------

SARIF_SCHEMA = json.loads((REPO / "tests/data/schemas/sarif-schema-2.1.0.json").read_text())
# jsonschema checks "uri" and "uri-reference" only with extra packages: RFC 3986's
# characters and scheme, checked here.
URIS = FormatChecker()
_URI_TEXT = re.compile(r"(?:[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=]|%[0-9A-Fa-f]{2})*")
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:")


@URIS.checks("uri-reference")
def _uri_reference(value: object) -> bool:
    if not isinstance(value, str):
        return True
    before_path = re.split("[/?#]", value, maxsplit=1)[0]
    return bool(_URI_TEXT.fullmatch(value)) and (
        ":" not in before_path or bool(_SCHEME.match(value))
    )


@URIS.checks("uri")
def _uri(value: object) -> bool:
    return not isinstance(value, str) or (_uri_reference(value) and bool(_SCHEME.match(value)))


SARIF = validator_for(SARIF_SCHEMA)(SARIF_SCHEMA, format_checker=URIS)
LEVEL = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "note"}


def _file_of(artifact: dict, root: str) -> str:
    """The absolute path an artifactLocation names: %SRCROOT% is the working directory, or
    the run's own project root when the run was captured in another checkout."""
    path = unquote(artifact["uri"], errors="surrogateescape")
    if artifact.get("uriBaseId") == "%SRCROOT%":
        here = os.path.join(os.getcwd(), path)
        return here if os.path.exists(here) or not root else os.path.join(root, path)
    assert path.startswith("file:///"), path
    return path.removeprefix("file://")


def check_sarif(out: str, report: Report) -> dict:
    """Valid against the schema, strict ASCII JSON, no control or bidi character in any
    text, and every result at a file, as code scanning requires (it rejects the whole file
    otherwise)."""
    data = check_json(out)
    SARIF.validate(data)
    assert not any(UNSAFE.search(s) for s in json_strings(data))
    [run] = data["runs"]
    rules = run["tool"]["driver"]["rules"]
    assert len(run["results"]) == len(report.findings)
    for f, result in zip(report.findings, run["results"], strict=True):
        assert result["ruleId"] == f.code == rules[result["ruleIndex"]]["id"]
        assert result["level"] == LEVEL[f.severity]
        assert_shows(result["message"]["text"], f.message, f.fix)
        places = [loc["physicalLocation"] for loc in result["locations"]]
        assert places and all(p["artifactLocation"]["uri"] for p in places)
        root = project_root(report)
        files = [os.path.normpath(_file_of(p["artifactLocation"], root)) for p in places]
        # At the lines found, else in the run or trace the finding comes from.
        assert files == (
            [os.path.abspath(loc.file) for loc in f.locations] or [os.path.abspath(f.source)]
        )
        lines = [p.get("region", {}).get("startLine") for p in places]
        assert lines == ([loc.line if loc.line > 0 else None for loc in f.locations] or [None])
    return data


# -- real reports -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def before() -> Report:
    """The committed reference run with four anti-patterns (reports/runs/before)."""
    return analyze(load_inputs(str(BEFORE)))


@pytest.fixture(scope="module")
def trace() -> Report:
    """A real GPU trace: findings without source lines."""
    return analyze(load_inputs(str(TRACE)))


@pytest.mark.parametrize("workspace", ["/", "elsewhere"])
def test_a_real_run_as_github_annotations(monkeypatch, tmp_path, before, workspace):
    """From "/" every line of the run is in the workspace; from elsewhere, the lines are
    placed by the project root the run recorded (it was captured in another checkout)."""
    monkeypatch.chdir(workspace if workspace == "/" else tmp_path)
    out = render(before, "github")
    read = check_github(out, before)
    files = [props.get("file") for _, props, _ in read]
    if workspace == "/":
        assert all(f and not f.startswith("/") and f.endswith(".py") for f in files)
        host_sync = next(r for r in read if r[1]["title"] == "PK101 host-sync")
        assert host_sync[0] == "warning" and "loss.item()" in host_sync[2]
    else:
        assert all(f and f.startswith("perfkit/") for f in files)
    assert out.splitlines()[-1].endswith(
        f"run.json: 1 error(s), 3 warning(s), 0 info; {len(before.not_checked)} rule(s) not checked"
    )


def test_a_real_trace_as_github_annotations(trace):
    """A trace has no source lines: one annotation a finding, without a file."""
    read = check_github(render(trace, "github"), trace)
    assert len(read) == len(trace.findings) and all("file" not in r[1] for r in read)


@pytest.mark.parametrize("workspace", ["/", "elsewhere"])
def test_a_real_run_as_sarif(monkeypatch, tmp_path, before, workspace):
    monkeypatch.chdir(workspace if workspace == "/" else tmp_path)
    run = check_sarif(render(before, "sarif"), before)["runs"][0]
    uris = [
        loc["physicalLocation"]["artifactLocation"]
        for result in run["results"]
        for loc in result["locations"]
    ]
    if workspace == "/":
        assert all(u["uriBaseId"] == "%SRCROOT%" and not u["uri"].startswith("/") for u in uris)
    else:
        assert all(u["uriBaseId"] == "%SRCROOT%" and u["uri"].startswith("perfkit/") for u in uris)
    # Every rule of the catalogue, documented; what could not be checked, with why.
    rules = run["tool"]["driver"]["rules"]
    assert rules[0]["id"] == "PK101" and rules[0]["name"] == "host-sync"
    assert all(r["fullDescription"]["text"] and r["help"]["text"] for r in rules)
    notes = run["invocations"][0]["toolExecutionNotifications"]
    assert [n["associatedRule"]["id"] for n in notes] == [n.code for n in before.not_checked]
    assert run["results"][0]["partialFingerprints"]["perfkitFinding/v1"]


def test_a_real_trace_as_sarif(monkeypatch, trace):
    """Code scanning rejects a file with a result without a location, so trace findings are
    placed in the trace (relative to the working directory, the repository here)."""
    monkeypatch.chdir(REPO)
    run = check_sarif(render(trace, "sarif"), trace)["runs"][0]
    uri = "tests/data/traces/hta-a100-alexnet-pageable-htod-syncs.pt.trace.json.gz"
    places = [r["locations"][0]["physicalLocation"] for r in run["results"]]
    assert [p["artifactLocation"]["uri"] for p in places] == [uri] * 4
    assert run["artifacts"] == [
        {"location": {"uri": uri, "uriBaseId": "%SRCROOT%"}, "roles": ["analysisTarget"]}
    ]


def test_a_fingerprint_survives_lines_moving(before):
    f = before.findings[0]
    moved = replace(f, locations=tuple(replace(loc, line=loc.line + 7) for loc in f.locations))
    other = replace(f, locations=tuple(replace(loc, function="elsewhere") for loc in f.locations))

    def fingerprint(finding):
        sarif = json.loads(render(replace(before, findings=(finding,)), "sarif"))
        return sarif["runs"][0]["results"][0]["partialFingerprints"]["perfkitFinding/v1"]

    assert fingerprint(f) == fingerprint(moved) != fingerprint(other)


# -- hostile text -----------------------------------------------------------------------


def _hostile(text: str, name: str) -> Report:
    """tests/test_escape.py's hostile report, with lines inside the working directory, one
    outside it, one without a line number, and a finding without lines."""
    report = hostile_report(text, name)
    inside = Location(file=os.path.join(os.getcwd(), f"{name}.py"), line=3, function=name)
    no_line = replace(inside, file=f"{name}/x.py", line=0)
    outside = replace(inside, file=f"/{name}/lib.py")
    first, second = report.findings
    first = replace(first, locations=(inside, no_line, outside))
    return replace(report, findings=(first, replace(second, locations=())))


@settings(max_examples=80, deadline=None)
@given(text=hostile, name=hostile)
def test_hostile_text_stays_data_in_both_formats(text, name):
    report = _hostile(text, name)
    check_github(render(report, "github"), report)
    data = check_sarif(render(report, "sarif"), report)
    assert_shows("\n".join(json_strings(data)), text, name)


# -- the command ------------------------------------------------------------------------


def test_dash_o_sarif_writes_sarif(capsys, tmp_path, trace):
    out = tmp_path / "perfkit.sarif"
    code, stdout, err = invoke(capsys, "report", str(TRACE), "-o", str(out))
    assert code == 0 and stdout == "" and "written to" in err
    check_sarif(out.read_text(), trace)
    assert invoke(capsys, "report", str(TRACE), "-o", str(out))[0] == 0


def test_a_long_github_report_is_known_by_its_last_line(tmp_path, before):
    """Its summary line, which names perfkit, comes after the annotations: ``-o`` replaces
    the file as its own report however many annotations come first."""
    many = replace(before, findings=before.findings * 40)
    out = tmp_path / "annotations.txt"
    out.write_text(render(many, "github"))
    assert (
        out.stat().st_size > 2 * HEAD_BYTES and "perfkit report" not in out.read_text()[:HEAD_BYTES]
    )
    assert is_report(out)


@pytest.mark.parametrize("fmt", ["github", "sarif"])
@pytest.mark.parametrize(
    ("args", "expected"),
    [(["--fail-on", "error"], 1), (["--fail-on", "error", "--select", "PK2"], 0), ([], 0)],
)
def test_fail_on_works_with_ci_formats(capsys, fmt, args, expected):
    code, out, _ = invoke(capsys, "report", str(BEFORE), "-f", fmt, *args)
    assert code == expected and "PK20" in out
