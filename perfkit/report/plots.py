"""Matplotlib figures for the HTML report, as base64 PNG (no scripts, no network).

Each function takes the Report's summary data and returns a PNG data URI or None when the
data is missing. Plotting formats data; it never judges it.
"""

from __future__ import annotations

import base64
import contextlib
import io
from collections.abc import Iterator
from typing import Any

_COLORS = {"data": "#e4572e", "outside": "#a0a0a0", "compute": "#4c72b0", "sync": "#8172b2"}


@contextlib.contextmanager
def literal_text() -> Iterator[None]:
    """Text drawn as written: a ``$`` in a user's function name is not mathtext (which can
    fail to parse, or print something else)."""
    import matplotlib

    with matplotlib.rc_context({"text.parse_math": False}):
        yield


def _png(fig: Any) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _figure(height: float = 2.6):
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(9, height))
    ax.spines[["top", "right"]].set_visible(False)
    return fig, ax


def step_phases(series: dict[str, list]) -> str | None:
    """Per-step time stacked by phase: data wait, other time between steps, the step itself."""
    walls = series.get("wall_ms") or []
    if not walls:
        return None
    waits = series.get("data_wait_ms") or [0.0] * len(walls)
    outs = series.get("outside_ms") or [0.0] * len(walls)
    data, other, compute = [], [], []
    for wall, wait, out in zip(walls, waits, outs, strict=False):
        period = wall + out
        d = min(wait, period)
        o = max(out - d, 0.0)
        data.append(d)
        other.append(o)
        compute.append(max(period - d - o, 0.0))
    fig, ax = _figure()
    x = range(len(walls))
    ax.bar(x, data, color=_COLORS["data"], label="DataLoader wait", width=1.0)
    ax.bar(
        x, other, bottom=data, color=_COLORS["outside"], label="other time between steps", width=1.0
    )
    ax.bar(
        x,
        compute,
        bottom=[a + b for a, b in zip(data, other, strict=False)],
        color=_COLORS["compute"],
        label="step",
        width=1.0,
    )
    _clip_first(ax, [a + b + c for a, b, c in zip(data, other, compute, strict=False)])
    ax.set_xlabel("step")
    ax.set_ylabel("ms")
    ax.set_title("Time per step, by phase")
    ax.legend(loc="upper right", fontsize=8, frameon=False)
    return _png(fig)


def trace_phases(step_ms: list[float], phases: dict[str, list[float]]) -> str | None:
    """Profiled steps split into data wait, forward and the rest, backward, optimizer."""
    if not step_ms or not phases or not any(phases.get("backward") or []):
        return None
    data, back, opt = phases["data"], phases["backward"], phases["optimizer"]
    rest = [max(t - d - b - o, 0.0) for t, d, b, o in zip(step_ms, data, back, opt, strict=False)]
    fig, ax = _figure()
    x = range(len(step_ms))
    bottom = [0.0] * len(step_ms)
    for values, label, color in (
        (data, "DataLoader", _COLORS["data"]),
        (rest, "forward and the rest", _COLORS["compute"]),
        (back, "backward", "#55a868"),
        (opt, "optimizer", _COLORS["sync"]),
    ):
        ax.bar(x, values, bottom=bottom, label=label, color=color, width=0.8)
        bottom = [a + b for a, b in zip(bottom, values, strict=False)]
    ax.set_xticks(list(x))
    ax.set_xlabel("profiled step")
    ax.set_ylabel("ms")
    ax.set_title("Profiled steps by phase (trace)")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)
    return _png(fig)


def _clip_first(ax: Any, totals: list[float]) -> None:
    """Step 0 carries start-up (first batch, workers, lazy init); don't let it flatten the rest."""
    if len(totals) < 3:
        return
    rest = max(totals[1:])
    if totals[0] > 2 * rest > 0:
        ax.set_ylim(0, rest * 1.25)
        ax.annotate(f"step 0: {totals[0]:.0f} ms", xy=(0, rest * 1.2), fontsize=8, color="#555")


def per_step(values: list, title: str, ylabel: str, scale: float = 1.0) -> str | None:
    points = [(i, v / scale) for i, v in enumerate(values) if v is not None]
    if not points or not any(v for _, v in points):
        return None
    fig, ax = _figure(2.2)
    ax.plot([i for i, _ in points], [v for _, v in points], color=_COLORS["sync"], lw=1.5)
    ax.set_xlabel("step")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    return _png(fig)


def samples(series: dict[str, list]) -> str | None:
    """GPU utilization and memory over time (NVML), or process CPU and RSS without a GPU."""
    t = series.get("t") or []
    if len(t) < 2:
        return None
    fig, ax = _figure()
    if "gpu_util" in series:
        left, left_label = series["gpu_util"], "GPU utilization %"
        right, right_label = series.get("gpu_mem_used_bytes"), "GPU memory GiB"
    else:
        left, left_label = series.get("cpu_percent") or [], "process CPU %"
        right, right_label = series.get("rss_bytes"), "RSS GiB"
    # Series of a damaged or hand-edited file may differ in length: plot what pairs up.
    left = list(left)[: len(t)]
    ax.plot(
        t[: len(left)],
        [v if v is not None else float("nan") for v in left],
        color=_COLORS["compute"],
    )
    ax.set_ylabel(left_label)
    ax.set_xlabel("seconds")
    if right:
        twin = ax.twinx()
        right = list(right)[: len(t)]
        twin.plot(
            t[: len(right)],
            [v / 2**30 if v is not None else float("nan") for v in right],
            color=_COLORS["data"],
        )
        twin.set_ylabel(right_label)
    ax.set_title(f"{left_label} and {right_label.split(' GiB')[0]} over time")
    return _png(fig)


def top_sites(labels: list[str], values: list[float], title: str) -> str | None:
    if not labels:
        return None
    fig, ax = _figure(0.5 + 0.35 * len(labels))
    ax.barh(range(len(labels))[::-1], values, color=_COLORS["sync"])
    ax.set_yticks(range(len(labels))[::-1], labels, fontsize=8)
    ax.set_title(title)
    return _png(fig)
