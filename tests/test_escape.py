"""What reaches a reader (issue 13, class 6): text from a run or a trace (function and file
names, call stacks, argv) is shown as written by every renderer and every error line, and
never acts as Markdown, HTML, rich markup or a terminal control sequence."""

from __future__ import annotations

import json
import re
import string
import tempfile
from collections.abc import Iterator
from html import unescape
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from markdown_it import MarkdownIt

from perfkit.analysis.compare import Comparison, Pair
from perfkit.analysis.engine import analyze
from perfkit.escape import json_text, md_code, printable
from perfkit.evidence import Evidence
from perfkit.findings import Finding, Location, NotChecked, Report, Severity
from perfkit.report import compare as compare_report
from perfkit.report import render, timeline
from perfkit.runfile import run_from_dict
from tests.test_cli import invoke
from tests.test_report_cli import run_with_syncs_at

# What a reader must never receive raw: C0/C1 controls (ESC, BEL, CSI U+009B) and the
# controls that reorder text on screen.
UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
# What a one-line rendering (the terminal, a location) shows escaped: line breaks and tabs too.
ONE_LINE = re.compile(UNSAFE.pattern[:-1] + "\t\n]")
PIECES = [
    "\n",
    "\n\n",
    "\r\n",
    "\t",
    "`",
    "``",
    "<img src=https://x/p.png>",
    "](http://x)",
    "[a](http://x)",
    "![i](http://x/i.png)",
    "<http://x>",
    "|",
    "\x1b[2J",
    "\x1b]0;title\x07",
    "\x9b31m",
    "\x00",
    "\u202e",
    "\u2066",
    "[red]",
    "[/red]",
    "[bold]",
    "</script>",
    "&lt;",
    "&#x202e;",
    "*",
    "**",
    "_",
    "~~",
    "$",
    "#",
    "- ",
    "1. ",
    "---",
    "> ",
    "    ",
    "\\",
    "'",
    '"',
    "é",
]
hostile = st.lists(
    st.sampled_from(PIECES) | st.text(string.ascii_letters + " .:/", max_size=4),
    min_size=1,
    max_size=8,
).map("".join)
FAST = settings(max_examples=80, deadline=None)


def fragments(text: str, between: re.Pattern[str] = ONE_LINE) -> list[str]:
    """The printable runs of ``text``: what a reader must see as written (controls are
    shown escaped; a line break may become a space, or be shown escaped where the text
    must keep to one line)."""
    return [" ".join(f.split()) for f in between.split(text) if f.strip()]


def _flat(text: str) -> str:
    return " ".join(text.split())


def assert_shows(shown: str, *texts: str, between: re.Pattern[str] = ONE_LINE) -> None:
    flat = _flat(shown)
    for text in texts:
        for fragment in fragments(text, between):
            assert fragment in flat, (fragment, shown)


# -- one check per format ---------------------------------------------------------------

MARKDOWN = MarkdownIt("commonmark").enable(["table", "strikethrough"])


def check_markdown(out: str, *texts: str, headings: int, table_rows: int = 0) -> None:
    """Nothing forms HTML, a link or an image, the document keeps its headings and table
    rows, and the text renders as written."""
    assert not UNSAFE.search(out.replace("\n", ""))
    tokens = MARKDOWN.parse(out)
    kinds = [t.type for t in tokens] + [c.type for t in tokens for c in t.children or []]
    assert not {"html_inline", "html_block", "link_open", "image"} & set(kinds), out
    assert kinds.count("heading_open") == headings, out
    assert kinds.count("tr_open") == (table_rows + 1 if table_rows else 0), out
    shown = unescape(re.sub(r"<[^>]*>", "", MARKDOWN.render(out)))
    assert not UNSAFE.search(shown.replace("\n", ""))  # entities decode to nothing unsafe
    assert_shows(shown, *texts)


class _Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: set[str] = set()
        self.attrs: dict[str, list[str | None]] = {}
        self.text: list[str] = []
        self.data: list[str] = []  # the text of <script type="application/json"> elements
        self.scripts: list[str] = []  # and of the other scripts
        self.script: str | None = None

    def handle_starttag(self, tag, attrs):
        self.tags.add(tag)
        for name, value in attrs:
            self.attrs.setdefault(name, []).append(value)
        if tag == "script":
            self.script = "data" if ("type", "application/json") in attrs else "code"

    def handle_endtag(self, tag):
        if tag == "script":
            self.script = None

    def handle_data(self, data):
        if self.script is None:
            self.text.append(data)
        else:
            (self.data if self.script == "data" else self.scripts).append(data)


PAGE_TAGS = {"html", "head", "meta", "title", "style", "body", "main", "h1", "h2", "div", "p"}
PAGE_TAGS |= {"span", "b", "code", "pre", "table", "tr", "th", "td"}
PAGE_TAGS |= {"canvas", "button", "i", "script"}  # the timeline
SVG_TAGS = {"svg", "g", "rect", "line", "polyline", "polygon", "circle", "text"}
SVG_ATTRS = {"viewbox", "role", "aria-label", "x", "y", "x1", "x2", "y1", "y2", "cx", "cy", "r"}
SVG_ATTRS |= {"width", "height", "fill", "stroke", "stroke-width", "opacity", "points"}
SVG_ATTRS |= {"text-anchor", "transform"}
# The only inline styles: a bar's width, as a percentage, and a legend's colour.
STYLE = re.compile(r"width:\d+%|background:hsl\(\d+,\d+%,\d+%\)")
TIMELINE_ATTRS = {"type", "data-pk-timeline", "data-act"}


def check_html(out: str, *texts: str) -> None:
    page = _Page()
    page.feed(out)
    assert page.tags <= PAGE_TAGS | SVG_TAGS, page.tags - PAGE_TAGS - SVG_TAGS
    allowed = {"lang", "charset", "name", "content", "class", "style"}
    assert set(page.attrs) <= allowed | SVG_ATTRS | TIMELINE_ATTRS
    assert all(STYLE.fullmatch(style or "") for style in page.attrs.get("style", []))
    assert not UNSAFE.search("".join(page.text).replace("\n", ""))
    assert_shows("".join(page.text), *texts)
    assert page.scripts == [timeline.SCRIPT] * len(page.scripts)  # ours, nothing else
    assert len(page.data) == len(page.scripts)


def timeline_strings(out: str) -> list[str]:
    """The strings of a page's timeline data, after checking that no name can end or change
    the script element it sits in: ASCII only (U+2028 escaped), no ``<``, strict JSON."""
    page = _Page()
    page.feed(out)
    (raw,) = page.data
    assert raw.isascii() and "<" not in raw and ">" not in raw and "&" not in raw
    found: list[str] = []

    def strings(x):
        if isinstance(x, str):
            found.append(x)
        elif isinstance(x, dict):
            for v in x.values():
                strings(v)
        elif isinstance(x, list):
            for v in x:
                strings(v)

    strings(json.loads(raw, parse_constant=lambda c: pytest.fail(f"{c} in the data")))
    assert not any(UNSAFE.search(s) for s in found)
    return found


def check_terminal(render_with_color, *texts: str) -> None:
    """No control sequence but rich's own colours, with or without colour; rich markup in
    the text shows as written."""
    plain = render_with_color(False)
    assert not UNSAFE.search(plain.replace("\n", ""))
    coloured = render_with_color(True)
    assert not UNSAFE.search(re.sub(r"\x1b\[[0-9;]*m", "", coloured).replace("\n", ""))
    # Panel borders out; each piece of data is on its line, its breaks shown escaped.
    assert_shows(re.sub("[\u2500-\u257f]", " ", plain), *texts)


def json_strings(x: Any) -> Iterator[str]:
    """Every string of decoded JSON, keys too."""
    if isinstance(x, str):
        yield x
    elif isinstance(x, dict):
        for k, v in x.items():
            yield k
            yield from json_strings(v)
    elif isinstance(x, list):
        for v in x:
            yield from json_strings(v)


def check_json(out: str, *texts: str) -> Any:
    """Strict JSON in ASCII, holding each of ``texts``; returns it decoded."""

    def refuse(constant):
        raise ValueError(f"{constant} is not JSON")

    data = json.loads(out, parse_constant=refuse)
    assert out.isascii()  # bidi controls and the like are \u escapes
    found = list(json_strings(data))
    for text in texts:
        assert any(text in s for s in found), text
    return data


# -- reports ----------------------------------------------------------------------------


def hostile_report(text: str, name: str) -> Report:
    """Every field a run or trace can fill: ``text`` in messages, ``name`` in names."""
    findings = tuple(
        Finding(
            code="PK101",
            rule="host-sync",
            severity=Severity(1 + i),
            message=f"message{i} {text}",
            evidence={"k": text},
            fix=f"fix{i} {text}",
            locations=(
                Location(
                    file=f"/tmp/{name}.py", line=3, function=name, code=text, count=2, via=name
                ),
            ),
            saving_ms=1.5,
            saving_pct=float("inf"),
            saving_reason=f"why{i} {text}",
            source=f"/runs/{name}",
        )
        for i in range(2)
    )
    return Report(
        summary={
            "sources": [name, "other"],
            "median_step_ms": float("inf"),
            "steps": 3,
            "step_source": text,
            "notices": [f"notice {text}"],
            "device": {"name": name},
            "env": {"host": name, "argv": [name, text]},
            "ranks": [{"rank": name, "step_ms": float("nan")}],
            "trace": {
                "top_ops": [[name, 1, 10.0, 4.0, 0.4]],
                "top_kernels": [["<b>\u202e", 1, 1.0]],
            },
        },
        findings=findings,
        not_checked=(NotChecked("PK601", "rank-straggler", f"reason {text}"),),
        sources=(name, "other"),
        timeline={
            "source": name,
            "rank": None,
            "span_us": 100.0,
            "steps": [[name, 0.0, 50.0]],
            "lanes": [
                {
                    "label": name,
                    "device": "cpu",
                    "start_us": [0.0, 10.0],
                    "dur_us": [5.0, 20.0],
                    "name": [0, 1],
                    "depth": [0, 0],
                    "merged": [[1, 3, 12.0]],
                }
            ],
            "names": [["op", text], ["merged", "op"]],
            "events": 4,
            "kept": 1,
            "merged": 3,
            "blocks": 1,
            "dropped": 0,
            "dropped_us": 0.0,
            "short_us": 20.0,
        },
    )


@FAST
@given(text=hostile, name=hostile)
def test_every_renderer_shows_hostile_text_as_written(text, name):
    report = hostile_report(text, name)
    check_terminal(lambda color: render(report, "terminal", color=color, width=4000), text, name)
    # Headings: the title, Ranks, Findings, one a finding, Not checked.
    check_markdown(render(report, "markdown"), text, name, headings=6, table_rows=1)
    page = render(report, "html")
    check_html(page, text, name)
    assert_shows(" ".join(timeline_strings(page)), text, name)  # names, labels, steps
    check_json(render(report, "json"), text, name)


@settings(max_examples=30, deadline=None)
@given(name=hostile, code=hostile, argv=hostile)
def test_a_run_with_hostile_names_reports_them_as_written(name, code, argv):
    """Through the engine: a host sync at a line whose function, file and code are hostile."""
    run = run_with_syncs_at(function=name, file=f"/w/{name}.py", code=code)
    run["env"]["argv"] = [argv]
    report = analyze([Evidence(run=run_from_dict(run))])
    assert report.findings
    check_terminal(lambda color: render(report, "terminal", color=color, width=4000), name, code)
    headings = 3 + len(report.findings)  # title, Findings, Not checked, one a finding
    check_markdown(render(report, "markdown"), name, code, headings=headings)
    check_html(render(report, "html"), name, code)
    check_json(render(report, "json"), name, code, argv)


@FAST
@given(base=hostile, new=hostile)
def test_compare_shows_hostile_names_as_written(base, new):
    pair = Pair(
        base=base,
        new=new,
        speedup=float("inf"),
        step=None,
        phases={"step_ms": (1.0, float("nan"))},
        fixed=("PK101 host-sync",),
        new_findings=(),
        remaining=(),
    )
    c = Comparison(base=base, new=new, pairs={"": pair}, differences=(f"script: {base} -> {new}",))
    text = compare_report.render(c, "terminal")
    assert not UNSAFE.search(text.replace("\n", ""))
    assert_shows(text, base, new)
    check_markdown(compare_report.render(c, "markdown"), base, new, headings=1, table_rows=1)
    check_json(compare_report.render(c, "json"), base, new)
    check_html(compare_report.render(c, "html"), base, new)


def test_a_trace_named_like_an_image_tag_is_a_name_in_compare(capsys, tmp_path):
    """The issue's probe: `compare -f markdown` escaped no backticks, so a trace named
    ``a`<img src=…>`.pt.trace.json`` became a raw <img> tag in a PR comment."""
    events = [{"ph": "X", "cat": "cpu_op", "name": "ProfilerStep#1", "ts": 1, "dur": 100}]
    trace = tmp_path / "a`<img src=https:x.png>`\u202e.pt.trace.json"
    trace.write_text(json.dumps({"traceEvents": events}))
    out_file = tmp_path / "c\x1b]0;t\x07.md"
    code, out, err = invoke(
        capsys, "compare", *map(str, (trace, trace)), "-f", "markdown", "-o", str(out_file)
    )
    assert code == 0 and out == ""
    assert err.count("\n") == 1 and not UNSAFE.search(err.rstrip("\n")), err
    shown = out_file.read_text()
    check_markdown(shown, str(trace), headings=1, table_rows=6)
    assert md_code(str(trace)) in shown


def test_json_never_holds_infinity(capsys, tmp_path):
    """A duration too large for a float reads as infinity: the trace reader leaves it out,
    and a non-finite figure that still reached the JSON writer would be written as null."""
    events = [
        {"ph": "X", "cat": "cpu_op", "name": "ProfilerStep#1", "ts": 1, "dur": 100},
        {"ph": "X", "cat": "cpu_op", "name": "ProfilerStep#2", "ts": 200, "dur": 1e999},
    ]
    trace = tmp_path / "huge.pt.trace.json"
    trace.write_text(json.dumps({"traceEvents": events}))  # written as Infinity
    code, out, _ = invoke(capsys, "report", str(trace), "-f", "json")
    assert code == 0
    check_json(out)
    assert json.loads(out)["summary"]["median_step_ms"] == 0.1  # the finite step alone
    assert json.loads(json_text({"ms": float("inf"), "r": [float("nan")]})) == {
        "ms": None,
        "r": [None],
    }


# -- error lines ------------------------------------------------------------------------

file_name = (
    st.lists(st.sampled_from([*PIECES, "\udcff"]), min_size=1, max_size=6)
    .map(lambda parts: "".join(parts).replace("/", "-").replace("\x00", "0")[:60])
    .filter(lambda n: n not in (".", ".."))
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(name=file_name, how=st.sampled_from(["missing", "malformed", "compare", "rule", "format"]))
def test_an_error_about_a_hostile_name_is_one_escaped_line(capsys, name, how):
    with tempfile.TemporaryDirectory() as tmp:
        path = str(Path(tmp) / name)
        if how == "malformed":
            Path(path).write_bytes(b"{")
        args = {
            "missing": ["report", path],
            "malformed": ["report", path],
            "compare": ["compare", path, path],
            "rule": ["report", tmp, "--select", name],
            "format": ["report", tmp, "-f", name],
        }[how]
        code, out, err = invoke(capsys, *args)
    assert code == 2 and out == ""
    assert err.endswith("\n") and err.count("\n") == 1, err
    assert not UNSAFE.search(err.rstrip("\n")), err
    if how in ("missing", "malformed", "compare"):
        assert_shows(err, printable(path), between=re.compile(f"\\s|{UNSAFE.pattern}"))
