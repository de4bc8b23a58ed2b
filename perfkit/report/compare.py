"""Render a Comparison as text, Markdown or JSON."""

from __future__ import annotations

from perfkit.analysis.compare import Comparison, comparison_to_json
from perfkit.escape import clean, json_text, md_code, md_text

_LABELS = {
    "step_ms": "median step (ms)",
    "data_wait_ms": "data wait (ms)",
    "compute_ms": "rest of the step (ms)",
    "syncs_per_step": "host syncs / step",
    "sync_wait_ms": "sync wait (ms)",
    "transfers_per_step": "transfers / step",
    "transfer_bytes_per_step": "transfer bytes / step",
    "memory_peak_bytes": "memory peak (bytes)",
}


def _fmt(x: float | None) -> str:
    if x is None:
        return "-"
    return f"{x:,.0f}" if abs(x) >= 1000 else f"{x:.3g}"


def _rows(c: Comparison) -> list[tuple[str, str, str, str]]:
    rows = []
    for key, (b, n) in c.phases.items():
        delta = "" if b is None or n is None else f"{n - b:+.3g}"
        rows.append((_LABELS.get(key, key), _fmt(b), _fmt(n), delta))
    return rows


def _headline(c: Comparison) -> str:
    if c.speedup is None:
        return "speedup: not measurable (no steps in one of the inputs)"
    word = "faster" if c.speedup >= 1 else "slower"
    return f"speedup {c.speedup:.2f}x (the new run is {word})"


def render_text(c: Comparison) -> str:
    lines = [f"base: {clean(c.base)}", f"new:  {clean(c.new)}", "", _headline(c), ""]
    lines.append(f"{'':<24}{'base':>14}{'new':>14}{'delta':>12}")
    lines += [f"{name:<24}{b:>14}{n:>14}{d:>12}" for name, b, n, d in _rows(c)]
    for title, items in (("fixed", c.fixed), ("new", c.new_findings), ("remaining", c.remaining)):
        lines.append(f"\nfindings {title}: " + (", ".join(items) if items else "none"))
    return "\n".join(lines) + "\n"


def render_markdown(c: Comparison) -> str:
    lines = [
        "# perfkit compare",
        "",
        f"**{md_text(_headline(c))}**",
        "",
        f"- base: {md_code(c.base)}",
        f"- new: {md_code(c.new)}",
        "",
        "| | base | new | delta |",
        "|---|---|---|---|",
    ]
    lines += [f"| {name} | {b} | {n} | {d} |" for name, b, n, d in _rows(c)]
    lines.append("")
    for title, items in (("Fixed", c.fixed), ("New", c.new_findings), ("Remaining", c.remaining)):
        lines.append(f"**{title}:** " + (", ".join(map(md_code, items)) if items else "none"))
        lines.append("")
    return "\n".join(lines)


def render(c: Comparison, fmt: str) -> str:
    if fmt == "json":
        return json_text(comparison_to_json(c))
    if fmt == "markdown":
        return render_markdown(c)
    return render_text(c)
