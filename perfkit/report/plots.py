"""The report's charts as inline SVG: crisp at any zoom, no scripts, no network.

Each function takes the Report's summary data and returns SVG (or, where a chart would
say nothing, a sentence), or None when the data is missing. Hovering a step, a sample or a
rank shows its values (an SVG ``<title>``). Charts over steps share one frame, so their x
axes line up, and every value axis starts at zero. Plotting formats data; it never judges.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from perfkit.escape import html_text as _e

COLORS = {
    "data": "#e4572e",
    "outside": "#a0a0a0",
    "compute": "#4c72b0",
    "backward": "#55a868",
    "optimizer": "#8172b2",
    "comm": "#2a9d8f",
    "line": "#8172b2",
    "band": "#c9d3e6",
    "pale": "#d5d9e0",
}
WIDTH = 900
LEFT, RIGHT, TOP, BOTTOM = 64, 16, 46, 40
# More steps than this are drawn as groups of consecutive steps (their mean), so a run of
# 100,000 steps stays a small drawing.
MAX_COLUMNS = 400
Legend = Sequence[tuple[str, str]]
# Areas that show values on hover: invisible, shaded under the pointer by the page's style.
HOVER = '<g class="hover" fill="transparent">'


@dataclass
class _Frame:
    """A chart's title, legend, axes and grid: values run up, ``x`` along the bottom."""

    title: str
    x_label: str
    unit: str
    x_range: tuple[float, float]
    top: float
    height: int = 220
    legend: Legend = field(default_factory=list)

    def __post_init__(self) -> None:
        self.ticks = _ticks(self.top)

    def x(self, v: float) -> float:
        lo, hi = self.x_range
        return LEFT + (v - lo) / ((hi - lo) or 1.0) * (WIDTH - LEFT - RIGHT)

    def y(self, v: float) -> float:
        bottom, top = self.height - BOTTOM, self.ticks[-1]
        return bottom - min(max(v, 0.0), top) / top * (bottom - TOP)

    def svg(self, body: Sequence[str], x_ticks: Sequence[float], x_names=()) -> str:
        """The chart around ``body``; ``x_names`` label the x ticks (else their values)."""
        bottom = self.height - BOTTOM
        out = [_head(self.title, self.height, self.legend)]
        for v in self.ticks:
            y = self.y(v)
            out.append(
                f'<line class="grid" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}"/>'
                f'<text class="tick" x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">'
                f"{_number(v)}</text>"
            )
        out += [
            f'<text class="tick" x="{self.x(v):.1f}" y="{bottom + 15}" text-anchor="middle">'
            f"{_e(x_names[k]) if x_names else _number(v)}</text>"
            for k, v in enumerate(x_ticks)
        ]
        out.append(
            f'<line class="axis" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{bottom}" y2="{bottom}"/>'
            f'<text class="label" transform="translate(14 {(TOP + bottom) / 2}) rotate(-90)" '
            f'text-anchor="middle">{_e(self.unit)}</text>'
        )
        return "".join([*out, _x_label(self.x_label, self.height), *body]) + "</svg>"

    def hover(self, x0: float, x1: float, lines: Sequence[str]) -> str:
        """A column of the chart that shows ``lines`` when the pointer is over it."""
        x, w = self.x(x0), self.x(x1) - self.x(x0)
        return (
            f'<rect x="{x:.2f}" y="{TOP}" width="{w:.2f}" height="{self.height - BOTTOM - TOP}">'
            f"<title>{_e(chr(10).join(lines))}</title></rect>"
        )


def _head(title: str, height: int, legend: Legend) -> str:
    out = [
        f'<svg class="chart" viewBox="0 0 {WIDTH} {height}" role="img" aria-label="{_e(title)}">'
        f'<text class="title" x="{LEFT}" y="16">{_e(title)}</text>'
    ]
    x = LEFT
    for label, color in legend:
        out.append(
            f'<rect x="{x}" y="25" width="10" height="10" fill="{color}"/>'
            f'<text class="tick" x="{x + 14}" y="34">{_e(label)}</text>'
        )
        x += int(5.8 * len(label)) + 28
    return "".join(out)


def _x_label(text: str, height: int) -> str:
    return (
        f'<text class="label" x="{(LEFT + WIDTH - RIGHT) / 2}" y="{height - 6}" '
        f'text-anchor="middle">{_e(text)}</text>'
    )


def _ticks(vmax: float, n: int = 4) -> list[float]:
    """0 and round steps (1, 2, 2.5, 5 x 10^k) up to at least ``vmax``."""
    if not vmax > 0 or not math.isfinite(vmax):
        return [0.0, 1.0]
    raw = vmax / n
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw * (1 - 1e-9))
    return [i * step for i in range(math.ceil(vmax / step - 1e-9) + 1)]


def _number(v: float) -> str:
    if abs(v) >= 100 or v == int(v):
        return f"{v:,.0f}"
    return f"{v:.3g}"


def _columns(n: int) -> list[range]:
    """Steps grouped into at most MAX_COLUMNS columns of consecutive steps."""
    size = max(1, math.ceil(n / MAX_COLUMNS))
    return [range(i, min(i + size, n)) for i in range(0, n, size)]


def _mean(values: Sequence[float | None], steps: range) -> float:
    known = [v for v in (values[i] for i in steps if i < len(values)) if v is not None]
    return sum(known) / len(known) if known else 0.0


def _steps_text(steps: range, name: str = "step") -> str:
    if len(steps) == 1:
        return f"{name} {steps[0]}"
    return f"{name}s {steps[0]}-{steps[-1]} (their mean)"


def _step_ticks(n: int) -> list[float]:
    return [t for t in _ticks(max(n - 1, 1), 6) if t <= n - 1 and t == int(t)]


def _binned_text(steps: range, first_step: Sequence[int], last: int | None) -> str:
    """Columns of a long run's bins: the steps they cover, from each bin's first step."""
    a = first_step[steps[0]]
    b = first_step[steps[-1] + 1] - 1 if steps[-1] + 1 < len(first_step) else last
    return f"steps {a:,}-{b:,} (their mean)" if b is not None else f"steps {a:,}- (their mean)"


def stacked_steps(
    title: str,
    layers: Sequence[tuple[str, str, Sequence[float]]],
    x_label: str = "step",
    marked: Sequence[bool] = (),
    marked_as: str = "",
    notes: dict[int, str] | None = None,
    names: Sequence[str] = (),
    first_step: Sequence[int] = (),
    last_step: int | None = None,
) -> str | None:
    """Stacked bars per step: ``layers`` are (label, colour, ms per step). Steps where
    ``marked`` is true are drawn pale (``marked_as`` says why); ``notes`` add a line to a
    step's hover; ``names`` name the steps (in place of their index). A first step far above
    the rest (start-up) is cut at the top, its value written beside it."""
    n = min((len(v) for _, _, v in layers), default=0)
    if n < 2:
        return None
    layers = [layer for layer in layers if any(layer[2][:n])] or layers[:1]
    columns = _columns(n)
    totals = [sum(_mean(v, c) for _, _, v in layers) for c in columns]
    cut = len(totals) > 2 and totals[0] > 2 * max(totals[1:]) > 0
    legend = [(label, color) for label, color, _ in layers]
    pale = [any(marked[i] for i in c if i < len(marked)) for c in columns]
    if marked_as and any(pale):
        legend.append((marked_as, COLORS["pale"]))
    top = max(totals[1:]) * 1.1 if cut else max(totals)
    frame = _Frame(title, x_label, "ms", (-0.5, n - 0.5), top, legend=legend)
    body, hover = [], []
    for c, total, faint in zip(columns, totals, pale, strict=True):
        x0, x1 = frame.x(c[0] - 0.5), frame.x(c[-1] + 0.5)
        if len(first_step) == n:
            where = _binned_text(c, first_step, last_step)
        elif len(c) == 1 and len(names) == n:
            where = names[c[0]]
        else:
            where = _steps_text(c, x_label)
        lines = [f"{where}: {total:.2f} ms" + (f", {marked_as}" if faint else "")]
        base, opacity = 0.0, ' opacity="0.45"' if faint else ""
        for label, color, values in layers:
            v = _mean(values, c)
            y0, y1 = frame.y(base), frame.y(base + v)
            if y0 - y1 > 0.05:
                body.append(
                    f'<rect x="{x0:.2f}" y="{y1:.2f}" width="{max(x1 - x0 - 0.4, 0.4):.2f}" '
                    f'height="{y0 - y1:.2f}" fill="{color}"{opacity}/>'
                )
            base += v
            lines.append(f"{label}: {v:.2f} ms")
        lines += [(notes or {})[i] for i in c if i in (notes or {})]
        hover.append(frame.hover(c[0] - 0.5, c[-1] + 0.5, lines))
    if cut:
        body.append(
            f'<text class="tick" x="{frame.x(0.6):.1f}" y="{TOP + 10}">'
            f"{x_label} 0: {totals[0]:,.0f} ms, cut</text>"
        )
    ticks = _step_ticks(n)
    if len(first_step) == n:
        names = [f"{i:,}" for i in first_step]
    labels = [names[int(t)] for t in ticks] if len(names) == n else []
    return frame.svg([*body, HOVER, *hover, "</g>"], ticks, labels)


def step_phases(series: dict[str, Any]) -> str | None:
    """Per step: the DataLoader wait, the rest of the time between steps (validation,
    logging, checkpoints: not data), and the step itself."""
    walls = series.get("wall_ms") or []
    waits = series.get("data_wait_ms") or [0.0] * len(walls)
    outs = series.get("outside_ms") or [0.0] * len(walls)
    data, other, step = [], [], []
    for wall, wait, out in zip(walls, waits, outs, strict=False):
        # The wait is counted where it happened: between the steps, or inside the step.
        period = wall + out
        d = min(wait, period)
        data.append(d)
        other.append(max(out - d, 0.0))
        step.append(period - d - other[-1])
    return stacked_steps(
        "Time per step, by phase",
        [
            ("DataLoader wait", COLORS["data"], data),
            ("between steps, not data (validation, logging...)", COLORS["outside"], other),
            ("step", COLORS["compute"], step),
        ],
        marked=[bool(p) for p in series.get("phase") or []],
        marked_as="probed or profiled: slower by design",
        notes={0: "before the first step: start-up (imports, model, workers, first batch)"},
        first_step=series.get("first_step") or (),
        last_step=series.get("last_step"),
    )


def per_step(
    values: Sequence[float | None],
    title: str,
    unit: str,
    scale: float = 1.0,
    first_step: Sequence[int] = (),
    last_step: int | None = None,
) -> str | None:
    """A value per step as a line from zero; a value that never changes as a sentence."""
    known = [v / scale for v in values if v is not None]
    if not known or not any(known):
        return None
    if len(set(known)) == 1:
        value = _number(known[0]) + ("" if unit in title.lower() else f" {unit}")
        return f'<p class="meta">{_e(title)}: {_e(value)} on every step.</p>'
    n = len(values)
    frame = _Frame(title, "step", unit, (-0.5, n - 0.5), max(known), height=190)
    columns = [c for c in _columns(n) if any(values[i] is not None for i in c)]
    means = [_mean(values, c) / scale for c in columns]
    xy = " ".join(
        f"{frame.x((c[0] + c[-1]) / 2):.1f},{frame.y(v):.1f}"
        for c, v in zip(columns, means, strict=True)
    )
    body = [f'<polyline points="{xy}" fill="none" stroke="{COLORS["line"]}" stroke-width="1.8"/>']
    binned = len(first_step) == n
    body += [HOVER] + [
        frame.hover(
            c[0] - 0.5,
            c[-1] + 0.5,
            [
                f"{_binned_text(c, first_step, last_step) if binned else _steps_text(c)}: "
                f"{_number(v)} {unit}"
            ],
        )
        for c, v in zip(columns, means, strict=True)
    ]
    ticks = _step_ticks(n)
    labels = [f"{first_step[int(t)]:,}" for t in ticks] if binned else []
    return frame.svg([*body, "</g>"], ticks, labels)


def over_time(t: Sequence[float], values: Sequence, title: str, unit: str, scale=1.0) -> str | None:
    """A sampled value against seconds since the run started, from zero."""
    points = [(x, v / scale) for x, v in zip(t, values, strict=False) if v is not None]
    if len(points) < 2:
        return None
    end = max(x for x, _ in points)
    frame = _Frame(
        title, "seconds since the run started", unit, (0.0, end), max(v for _, v in points), 170
    )
    xy = " ".join(f"{frame.x(x):.1f},{frame.y(v):.1f}" for x, v in points)
    body = [f'<polyline points="{xy}" fill="none" stroke="{COLORS["line"]}" stroke-width="1.8"/>']
    body += [
        f'<circle cx="{frame.x(x):.1f}" cy="{frame.y(v):.1f}" r="3" fill="{COLORS["line"]}">'
        f"<title>{x:.1f} s: {_number(v)} {_e(unit)}</title></circle>"
        for x, v in points
    ]
    return frame.svg(body, [v for v in _ticks(end, 6) if v <= end])


def samples(series: dict[str, list]) -> list[str | None]:
    """GPU utilization and memory over time (NVML), or process CPU and RSS without a GPU."""
    t = series.get("t") or []
    if "gpu_util" in series:
        return [
            over_time(t, series["gpu_util"], "GPU utilization", "%"),
            over_time(t, series.get("gpu_mem_used_bytes") or [], "GPU memory used", "GiB", 2**30),
        ]
    return [
        over_time(t, series.get("cpu_percent") or [], "Process CPU", "% of one core"),
        over_time(t, series.get("rss_bytes") or [], "Process memory (RSS)", "GiB", 2**30),
    ]


def trace_phases(
    step_ms: list[float], phases: dict[str, list[float]], names: Sequence[str] = (), of: str = ""
) -> str | None:
    """Profiled steps split into data wait, backward, optimizer and the rest (forward),
    named as the trace names them (``ProfilerStep#5``: ``#5``); ``of`` says whose trace."""
    n = len(step_ms)
    data = phases.get("data") or [0.0] * n
    back = phases.get("backward") or [0.0] * n
    opt = phases.get("optimizer") or [0.0] * n
    rest = [max(t - d - b - o, 0.0) for t, d, b, o in zip(step_ms, data, back, opt, strict=False)]
    if n == 1:  # one bar says less than a sentence
        return (
            f'<p class="meta">One profiled step: {step_ms[0]:.2f} ms (DataLoader {data[0]:.2f}, '
            f"backward {back[0]:.2f}, optimizer {opt[0]:.2f}, the rest {rest[0]:.2f} ms).</p>"
        )
    return stacked_steps(
        f"Profiled steps by phase (trace{of})",
        [
            ("DataLoader", COLORS["data"], data),
            ("forward and the rest", COLORS["compute"], rest),
            ("backward", COLORS["backward"], back),
            ("optimizer", COLORS["optimizer"], opt),
        ],
        x_label="profiled step (ProfilerStep#)" if names else "profiled step",
        names=[name.removeprefix("ProfilerStep") for name in names],
    )


def rank_phases(rows: list[dict], slowest: dict | None) -> str | None:
    """Each rank's median step, a bar a rank, split into data wait, communication (from
    traces) and the rest; the slowest rank stands out."""
    rows = [r for r in rows if isinstance(r.get("step_ms"), (int, float)) and r["step_ms"] >= 0]
    if len(rows) < 2:
        return None
    worst, pct = (slowest or {}).get("rank"), (slowest or {}).get("vs_median_pct")
    has_comm = any(r.get("comm_ms") for r in rows)
    legend = [("data wait", COLORS["data"])]
    legend += [("communication", COLORS["comm"])] if has_comm else []
    legend += [("rest of the step", COLORS["compute"])]
    row_h = max(4.0, min(18.0, 480 / len(rows)))
    height = int(TOP + BOTTOM + row_h * len(rows))
    ticks = _ticks(max(r["step_ms"] for r in rows), 6)
    frame = _Frame("Median step of each rank", "ms", "", (0.0, ticks[-1]), 0.0, height, legend)
    bottom = height - BOTTOM
    body = [_head(frame.title, height, legend), _x_label("ms a step (median)", height)]
    body += [
        f'<line class="grid" x1="{frame.x(v):.1f}" x2="{frame.x(v):.1f}" y1="{TOP}" '
        f'y2="{bottom}"/><text class="tick" x="{frame.x(v):.1f}" y="{bottom + 15}" '
        f'text-anchor="middle">{_number(v)}</text>'
        for v in ticks
    ]
    for i, r in enumerate(rows):
        y, step = TOP + i * row_h, r["step_ms"]
        data = min(r.get("data_wait_ms") or 0.0, step)
        comm = min(r.get("comm_ms") or 0.0, step - data)
        x = 0.0
        for v, color in ((data, "data"), (comm, "comm"), (step - data - comm, "compute")):
            if v > 0:
                body.append(
                    f'<rect x="{frame.x(x):.2f}" y="{y + 0.5:.2f}" height="{max(row_h - 1, 1):.2f}"'
                    f' width="{frame.x(x + v) - frame.x(x):.2f}" fill="{COLORS[color]}"/>'
                )
            x += v
        is_worst = r.get("rank") == worst
        label = f"rank {r.get('rank')}"
        lines = [f"{label}: {step:.2f} ms a step (median)", f"data wait: {data:.2f} ms"]
        lines += [f"communication: {comm:.2f} ms"] if has_comm else []
        lines += [f"rest of the step: {step - data - comm:.2f} ms"]
        if is_worst:
            lines.insert(1, "the slowest rank" + (f": {pct:+.1f}% vs the median" if pct else ""))
            body.append(
                f'<rect class="worst" x="{LEFT - 62}" y="{y:.2f}" height="{row_h:.2f}" '
                f'width="{frame.x(step) - LEFT + 64:.2f}"/>'
            )
        if is_worst or row_h >= 9:
            body.append(
                f'<text class="tick{" worst-label" if is_worst else ""}" x="{LEFT - 6}" '
                f'y="{y + row_h / 2 + 4:.2f}" text-anchor="end">{_e(label)}</text>'
            )
        body.append(
            HOVER + f'<rect x="{LEFT}" y="{y:.2f}" width="{WIDTH - LEFT - RIGHT}" '
            f'height="{row_h:.2f}"><title>{_e(chr(10).join(lines))}</title></rect></g>'
        )
    return "".join(body) + "</svg>"


def rank_spread(spread: dict, slowest: dict | None) -> str | None:
    """Each step's time on every rank: the band from the shortest to the longest, the
    median, and the slowest rank."""
    low, mid, high = spread.get("min") or [], spread.get("median") or [], spread.get("max") or []
    n = len(mid)
    if n < 2:
        return None
    worst, who = spread.get("slowest") or [], (slowest or {}).get("rank")
    legend = [("every rank, shortest to longest", COLORS["band"]), ("median", COLORS["compute"])]
    legend += [(f"rank {who}, the slowest", COLORS["data"])] if worst else []
    frame = _Frame("Step time of every rank", "step", "ms", (-0.5, n - 0.5), max(high), 220, legend)
    xs = [frame.x(i) for i in range(n)]
    band = [f"{x:.1f},{frame.y(v):.1f}" for x, v in zip(xs, high, strict=True)]
    band += [f"{x:.1f},{frame.y(v):.1f}" for x, v in reversed(list(zip(xs, low, strict=True)))]
    body = [f'<polygon points="{" ".join(band)}" fill="{COLORS["band"]}"/>']
    for values, color in ((mid, COLORS["compute"]), (worst, COLORS["data"])):
        if values:
            xy = " ".join(f"{x:.1f},{frame.y(v):.1f}" for x, v in zip(xs, values, strict=False))
            body.append(f'<polyline points="{xy}" fill="none" stroke="{color}" stroke-width="2"/>')
    body.append(HOVER)
    for i in range(n):
        lines = [
            f"step {i}",
            f"longest: {high[i]:.2f} ms (rank {spread['max_rank'][i]})",
            f"median: {mid[i]:.2f} ms",
            f"shortest: {low[i]:.2f} ms (rank {spread['min_rank'][i]})",
        ]
        lines += [f"rank {who}, the slowest: {worst[i]:.2f} ms"] if i < len(worst) else []
        body.append(frame.hover(i - 0.5, i + 0.5, lines))
    return frame.svg([*body, "</g>"], _step_ticks(n))
