"""The HTML page (issue 15): charts as SVG with values on hover, every rank of a job, the
timeline of the profiled steps."""

from __future__ import annotations

import json
import re
import subprocess

import pytest

from perfkit.analysis.engine import analyze
from perfkit.analysis.inputs import load_inputs
from perfkit.evidence import Evidence
from perfkit.findings import Report
from perfkit.report import plots, render
from perfkit.trace import summarize
from perfkit.trace import timeline as trace_timeline
from tests.conftest import CHROMIUM, TRACES

JOB = TRACES / "hta-sampled-128rank-job"
RESNET = TRACES / "kineto-resnet50-v100-dataloader-num-workers-0.pt.trace.json.gz"
DDP = TRACES / "hta-v100-nccl-2rank-rank1-ddp.pt.trace.json.gz"


def hovers(svg: str) -> list[str]:
    return re.findall(r"<title>(.*?)</title>", svg, re.S)


def test_each_step_shows_its_phases_on_hover_and_time_between_steps_is_not_data():
    """Step 2 waits 5 ms for data, then runs 10 ms; before step 3, 80 ms of validation."""
    series = {
        "wall_ms": [30.0, 10.0, 10.0, 10.0],
        "data_wait_ms": [0.0, 5.0, 5.0, 5.0],
        "outside_ms": [900.0, 5.0, 5.0, 85.0],
        "phase": [None, None, "active", None],
    }
    svg = plots.step_phases(series)
    assert svg is not None and svg.startswith('<svg class="chart"')
    shown = hovers(svg)
    assert shown[3] == (
        "step 3: 95.00 ms\nDataLoader wait: 5.00 ms\n"
        "between steps, not data (validation, logging...): 80.00 ms\nstep: 10.00 ms"
    )
    assert shown[2].startswith("step 2: 15.00 ms, probed or profiled")
    assert "step 0: 930 ms, cut" in svg and "start-up" in shown[0]  # not flattening the rest
    assert re.findall(r'text-anchor="end">([\d,]+)</text>', svg) == ["0", "50", "100", "150"]


def test_what_a_chart_would_not_show_is_a_sentence_or_a_table():
    """No flat line on a 0.96-1.04 axis, no chart of one bar."""
    assert plots.per_step([1, 1, 1], "Host syncs per step", "syncs") == (
        '<p class="meta">Host syncs per step: 1 on every step.</p>'
    )
    one = plots.trace_phases([12.0], {"data": [2.0], "backward": [4.0], "optimizer": [1.0]})
    assert one is not None and "<svg" not in one and "One profiled step: 12.00 ms" in one
    page = render(
        Report(
            summary={"top_sync_sites": [{"site": "train.py:3 step", "code": "", "per_step": 1.0}]},
            findings=(),
            not_checked=(),
        ),
        "html",
    )
    assert "<svg" not in page and "<td><code>train.py:3 step</code></td><td>1.0</td>" in page


def test_many_steps_are_drawn_in_a_bounded_size():
    svg = plots.per_step(list(range(100_000)), "Memory per step", "MiB")
    assert svg is not None and len(hovers(svg)) == plots.MAX_COLUMNS
    assert hovers(svg)[0] == "steps 0-249 (their mean): 124 MiB"
    assert len(svg) < 100_000


def test_a_job_shows_every_rank_and_the_slowest_stands_out():
    report = analyze(load_inputs(JOB))
    page = render(report, "html")
    ranks = page[page.index("<h2>Ranks</h2>") : page.index("<h2>Findings</h2>")]
    bars = ranks[: ranks.index("Step time of every rank")]
    assert [t.split(":")[0] for t in hovers(bars)] == ["rank 0", "rank 1"]
    assert hovers(bars)[1].startswith("rank 1: 619.27 ms a step (median)\nthe slowest rank")
    assert "communication: 189.53 ms" in hovers(bars)[1]
    assert bars.count('class="worst"') == 1 and ">rank 1</text>" in bars
    spread = ranks[ranks.index("Step time of every rank") :]
    assert "longest: 630.64 ms (rank 1)" in spread and "rank 1, the slowest: 630.64" in spread
    assert "Profiled steps by phase (trace of rank 0)" in page  # the rank the summary reads


def test_a_job_of_many_ranks_draws_each_of_them():
    rows = [{"rank": r, "step_ms": 100.0 + r, "data_wait_ms": 1.0} for r in range(256)]
    svg = plots.rank_phases(rows, {"rank": 255, "step_ms": 355.0, "vs_median_pct": 50.0})
    assert svg is not None
    assert [t.split(":")[0] for t in hovers(svg)] == [f"rank {r}" for r in range(256)]
    assert svg.count('class="worst"') == 1 and "+50.0% vs the median" in svg


def timeline_data(page: str) -> dict:
    raw = page.split('<script type="application/json">', 1)[1].split("</script>", 1)[0]
    return json.loads(raw)


def test_the_page_draws_the_timeline_of_a_gpu_trace():
    """Lanes for the threads and the stream, the step markers, within the cap."""
    report = analyze(load_inputs(RESNET))
    page = render(report, "html")
    data = timeline_data(page)
    assert [lane["label"] for lane in data["lanes"]] == [
        "thread 25738 (python)",
        "thread 25772 (python)",
        "GPU 0 stream 7",
    ]
    assert [step[0] for step in data["steps"]] == [f"ProfilerStep#{i}" for i in range(5, 11)]
    assert sum(len(lane["start"]) for lane in data["lanes"]) <= trace_timeline.MAX_EVENTS
    assert {kind for kind, _ in data["names"]} >= {"op", "data", "kernel", "memcpy", "merged"}
    assert "32,166 CPU ops, kernels and copies in the window" in page
    assert page.count("<script>") == 1 and "http" not in page.split("<script>", 1)[1]


def test_a_trace_that_marks_no_steps_is_one_window():
    events = [
        {"ph": "X", "cat": "cpu_op", "name": "aten::mm", "ts": 10, "dur": 5, "tid": 1},
        {"ph": "X", "cat": "kernel", "name": "gemm", "ts": 12, "dur": 2, "pid": 0, "tid": 7},
    ]
    report = analyze([Evidence(trace=summarize({"traceEvents": events}, "t.pt.trace.json"))])
    page = render(report, "html")
    assert "<h2>Timeline of the trace (it marks no steps)</h2>" in page
    assert "all 2 CPU ops, kernels and copies of the window" in page
    assert "click a step" not in page and timeline_data(page)["steps"] == []


def test_without_a_trace_the_timeline_says_why():
    page = render(Report(summary={}, findings=(), not_checked=()), "html")
    assert "No timeline: this report has no profiler trace" in page
    assert "<script" not in page and "<canvas" not in page


@pytest.mark.slow
@pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed")
def test_the_timeline_script_draws_in_a_browser(tmp_path):
    """The script runs without an error in headless Chromium (it marks the timeline ready,
    or writes the error where the timeline would be)."""
    page = tmp_path / "report.html"
    page.write_text(render(analyze(load_inputs(DDP)), "html"))
    dom = subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            f"--user-data-dir={tmp_path / 'profile'}",
            "--virtual-time-budget=5000",
            "--dump-dom",
            page.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    assert 'data-pk-timeline="" data-ready="1"' in dom
    assert '<p class="pk-status" style="display: none;"></p>' in dom


def test_in_a_notebook_the_report_restyles_nothing_around_it():
    """``Report._repr_html_``: the page's content in one element, every style rule under
    its class (the page's own ``body`` rule stays in the page)."""
    report = analyze(load_inputs(JOB))
    shown = report._repr_html_()
    assert shown.startswith('<div class="perfkit-report"><style>') and shown.endswith("</div>")
    assert not re.search(r"<(html|head|body|main|meta)\b", shown)
    assert "<title>perfkit report</title>" not in shown
    css = "".join(re.findall(r"<style>(.*?)</style>", shown, re.S))
    selectors = [s.strip() for rule in re.findall(r"([^{}]+)\{", css) for s in rule.split(",")]
    assert len(selectors) > 30
    assert all(s.startswith(".perfkit-report") for s in selectors), selectors
    assert "<h2>Ranks</h2>" in shown and "rank 1" in shown and "data-pk-timeline" in shown
    page = render(report, "html")
    assert "body{" in page and "body{" not in shown
