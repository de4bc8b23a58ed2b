"""The HTML page (issue 15): charts as SVG with values on hover."""

from __future__ import annotations

import re

from perfkit.findings import Report
from perfkit.report import plots, render


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
