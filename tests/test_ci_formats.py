"""CI formats (issue 15): ``--format github`` writes workflow annotations that GitHub's
runner reads back as written."""

from __future__ import annotations

import os
import re
from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from perfkit.analysis.engine import analyze
from perfkit.analysis.inputs import load_inputs
from perfkit.commands.output import HEAD_BYTES, is_report
from perfkit.escape import clean, github_data, github_property
from perfkit.findings import Location, Report, Severity
from perfkit.report import render
from perfkit.report.text import workspace_path
from tests.conftest import REPO, TRACES
from tests.test_cli import invoke
from tests.test_escape import PIECES, UNSAFE, assert_shows, hostile_report

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
        path = workspace_path(loc.file) if loc else None
        assert props.get("file") == (clean(path) if path else None)
        assert props.get("line") == (str(loc.line) if path and loc and loc.line else None)
        assert_shows(message, f.message, f.fix)
        if loc and not path:  # the line is named in the message instead
            assert_shows(message, loc.file)
    return read


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
    """From "/" every line of the run is in the workspace; from elsewhere none is, and each
    annotation names its line in the message."""
    monkeypatch.chdir(workspace if workspace == "/" else tmp_path)
    out = render(before, "github")
    read = check_github(out, before)
    files = [props.get("file") for _, props, _ in read]
    if workspace == "/":
        assert all(f and not f.startswith("/") and f.endswith(".py") for f in files)
        host_sync = next(r for r in read if r[1]["title"] == "PK101 host-sync")
        assert host_sync[0] == "warning" and "loss.item()" in host_sync[2]
    else:
        assert files == [None] * len(read)
    assert out.splitlines()[-1].endswith(
        f"run.json: 1 error(s), 3 warning(s), 0 info; {len(before.not_checked)} rule(s) not checked"
    )


def test_a_real_trace_as_github_annotations(trace):
    """A trace has no source lines: one annotation a finding, without a file."""
    read = check_github(render(trace, "github"), trace)
    assert len(read) == len(trace.findings) and all("file" not in r[1] for r in read)


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
def test_hostile_text_stays_data(text, name):
    report = _hostile(text, name)
    check_github(render(report, "github"), report)


# -- the command ------------------------------------------------------------------------


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


@pytest.mark.parametrize("fmt", ["github"])
@pytest.mark.parametrize(
    ("args", "expected"),
    [(["--fail-on", "error"], 1), (["--fail-on", "error", "--select", "PK2"], 0), ([], 0)],
)
def test_fail_on_works_with_ci_formats(capsys, fmt, args, expected):
    code, out, _ = invoke(capsys, "report", str(BEFORE), "-f", fmt, *args)
    assert code == expected and "PK20" in out
