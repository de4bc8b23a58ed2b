"""Render a Comparison as terminal text, Markdown, JSON or one HTML page.

Numbers are rounded for people: milliseconds to two decimals (one from 100 ms, three below
1 ms), counts as integers with thousands separators, bytes in KiB, MiB or GiB, deltas signed
in the same units, changes in percent. The JSON keeps three decimals of a millisecond.
"""

from __future__ import annotations

import math
import textwrap
from collections.abc import Callable
from typing import Any

from perfkit.analysis.compare import STEP_PARTS, Comparison, Pair
from perfkit.analysis.noise import CONFIDENCE, StepChange
from perfkit.escape import clean, html_text, json_text, md_code, md_text

# key -> (label, unit); "= " and "+ " mark the parts that add up to the median step.
_ROWS = {
    "step_ms": ("median step", "ms"),
    "data_wait_ms": ("= data wait", "ms"),
    "compute_ms": ("+ rest of the step", "ms"),
    "gpu_busy_ms": ("GPU busy / step", "ms"),
    "syncs_per_step": ("host syncs / step", "count"),
    "sync_wait_ms": ("sync wait / step", "ms"),
    "transfers_per_step": ("transfers / step", "count"),
    "transfer_bytes_per_step": ("transfer bytes / step", "bytes"),
    "memory_peak_bytes": ("memory peak (highest)", "bytes"),
}
FOOTNOTE = (
    "data wait + rest of the step = median step: both are those of the median step (the "
    "mean of the two middle ones when their number is even); other rows are medians per step"
)
_UNITS = ((2**30, "GiB"), (2**20, "MiB"), (2**10, "KiB"))
_INTERVAL = f"{100 * CONFIDENCE:.0f}% CI"


def number(x: float | None, unit: str, signed: bool = False) -> str:
    """``x`` for a reader: "46.43 ms", "1,024", "408.7 MiB"; signed: "+1.88 ms"."""
    if x is None or not math.isfinite(x):
        return "-"
    if x == 0:  # exactly: "0 ms", not "0.000 ms"; a delta of nothing has no sign or unit
        return "0" if signed else {"ms": "0 ms", "bytes": "0 B"}.get(unit, "0")
    sign = "+" if signed else ""
    if unit == "ms":
        digits = 1 if abs(x) >= 100 else 2 if abs(x) >= 1 else 3
        return f"{x:{sign},.{digits}f} ms"
    if unit == "bytes":
        scale, name = next(((s, n) for s, n in _UNITS if abs(x) >= s), (1, "B"))
        return f"{x / scale:{sign},.{1 if scale > 1 else 0}f} {name}"
    return f"{x:{sign},.0f}" if x == int(x) else f"{x:{sign},.1f}"


def percent(fraction: float | None) -> str:
    if fraction is None or not math.isfinite(fraction):
        return "-"
    return "0%" if fraction == 0 else f"{100 * fraction:+.1f}%"


def _change(b: float | None, n: float | None) -> float | None:
    return n / b - 1 if b is not None and n is not None and b != 0 else None


def rows(p: Pair) -> list[tuple[str, str, str, str, str]]:
    """(label, base, new, delta, change) per phase, formatted."""
    out = []
    for key, (b, n) in p.phases.items():
        label, unit = _ROWS[key]
        delta = None if b is None or n is None else n - b
        out.append(
            (
                label,
                number(b, unit),
                number(n, unit),
                number(delta, unit, signed=True),
                percent(_change(b, n)),
            )
        )
    return out


def speedup_text(p: Pair) -> str:
    if p.speedup is None:
        return "speedup: not measurable (no steps in one of the inputs)"
    word = "faster" if p.speedup >= 1 else "slower"
    return f"speedup {p.speedup:.2f}x (the new run is {word})"


def step_text(step: StepChange | None) -> str:
    """ "median step +12.3% (95% CI +8.1% to +16.0%), beyond noise"."""
    if step is None:
        return ""
    head = f"median step {percent(step.change)}"
    if step.interval is None:
        return f"{head} ({_INTERVAL} not computed: {step.no_interval}), noise unknown"
    low, high = map(percent, step.interval)
    verdict = "beyond noise" if step.beyond_noise else "within noise"
    return f"{head} ({_INTERVAL} {low} to {high}), {verdict}"


WARNING = "The inputs differ in more than the code; the change may come from these too:"
_FINDINGS = (("fixed", "fixed"), ("new_findings", "new"), ("remaining", "remaining"))


# -- terminal ---------------------------------------------------------------------------


def render_text(c: Comparison) -> str:
    lines = ["perfkit compare"]
    lines += [f"! {clean(n)}" for n in c.notices]
    if len(c.pairs) > 1:
        lines += [f"base: {clean(c.base)}", f"new:  {clean(c.new)}"]
    if c.differences:
        lines += ["", f"warning: {WARNING}"] + [f"  {clean(d)}" for d in c.differences]
    for title, p in c.pairs.items():
        lines += ["", *([clean(title), ""] if title else [])]
        lines += [f"base: {clean(p.base)}", f"new:  {clean(p.new)}", "", speedup_text(p)]
        lines += [step_text(p.step)] if p.step else []
        table = [("", "base", "new", "delta", "change"), *rows(p)]
        width = max(len(r[0]) for r in table) + 2
        lines.append("")
        lines += [f"{r[0]:<{width}}" + "".join(f"{x:>13}" for x in r[1:]) for r in table]
        lines += [*textwrap.wrap(FOOTNOTE, 90), ""]
        for attr, word in _FINDINGS:
            items = getattr(p, attr)
            lines.append(f"findings {word}: " + (", ".join(map(clean, items)) or "none"))
    return "\n".join(lines) + "\n"


# -- Markdown ---------------------------------------------------------------------------


def render_markdown(c: Comparison) -> str:
    lines = ["# perfkit compare", ""]
    lines += [f"> **{md_text(n)}**\n" for n in c.notices]
    if len(c.pairs) > 1:
        lines += [f"- base: {md_code(c.base)}", f"- new: {md_code(c.new)}", ""]
    if c.differences:
        lines += [f"**Warning:** {WARNING}", ""]
        lines += [f"- {md_text(d)}" for d in c.differences] + [""]
    for title, p in c.pairs.items():
        lines += [f"## {md_text(title)}", ""] if title else []
        lines += [f"**{speedup_text(p)}**", ""]
        lines += [step_text(p.step), ""] if p.step else []
        lines += [f"- base: {md_code(p.base)}", f"- new: {md_code(p.new)}", ""]
        lines += ["| | base | new | delta | change |", "|---|--:|--:|--:|--:|"]
        # Labels and numbers are perfkit's own: Markdown shows them as written.
        lines += ["| " + " | ".join(r) + " |" for r in rows(p)]
        lines += ["", FOOTNOTE, ""]
        for attr, word in _FINDINGS:
            items = getattr(p, attr)
            shown = ", ".join(map(md_code, items)) or "none"
            lines += [f"**{word.capitalize()}:** {shown}", ""]
    return "\n".join(lines)


# -- JSON -------------------------------------------------------------------------------


def _rounded(x: float | None, unit: str) -> float | int | None:
    if x is None or not math.isfinite(x):
        return None
    if unit == "bytes" or x == int(x):
        return int(x)
    return round(x, 3)


def _step_json(step: StepChange | None) -> dict[str, Any] | None:
    if step is None:
        return None
    interval = [round(100 * x, 2) for x in step.interval] if step.interval else None
    noise = {True: "beyond noise", False: "within noise", None: "unknown"}[step.beyond_noise]
    return {
        "change_pct": round(100 * step.change, 2),
        "ci95_pct": interval,
        "noise": noise,
        "no_interval": step.no_interval or None,
    }


def pair_to_json(p: Pair) -> dict[str, Any]:
    phases = {}
    for key, (b, n) in p.phases.items():
        unit = _ROWS[key][1]
        change = _change(b, n)
        phases[key] = {
            "base": _rounded(b, unit),
            "new": _rounded(n, unit),
            "delta": None if b is None or n is None else _rounded(n - b, unit),
            "change_pct": None if change is None else round(100 * change, 2),
        }
    return {
        "base": p.base,
        "new": p.new,
        "speedup": round(p.speedup, 4) if p.speedup else None,
        "step": _step_json(p.step),
        "phases": phases,
        "fixed": list(p.fixed),
        "new_findings": list(p.new_findings),
        "remaining": list(p.remaining),
    }


def comparison_to_json(c: Comparison) -> dict[str, Any]:
    """``perfkit.compare/2`` (docs/report-format.md): one pair's keys at the top for a run
    or a trace; for jobs the inputs, then one object per pair."""
    head: dict[str, Any] = {"schema": "perfkit.compare/2"}
    if len(c.pairs) == 1:
        return {
            **head,
            "notices": list(c.notices),
            **pair_to_json(c.headline),
            "differences": list(c.differences),
        }
    pairs = {title.replace(" ", "_"): pair_to_json(p) for title, p in c.pairs.items()}
    return {
        **head,
        "notices": list(c.notices),
        "base": c.base,
        "new": c.new,
        "differences": list(c.differences),
        **pairs,
    }


def render_json(c: Comparison) -> str:
    return json_text(comparison_to_json(c))


# -- HTML -------------------------------------------------------------------------------

_CSS = """
body{font:15px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;
  background:#f6f7f9;color:#1d2433}
main{max-width:1000px;margin:0 auto;padding:24px}
h1{font-size:24px;margin:0 0 4px} h2{font-size:19px;margin:28px 0 10px}
.meta{color:#5b6475;font-size:14px;margin:4px 0}
.headline{background:#fff;border-radius:8px;padding:12px 16px;margin:14px 0;
  box-shadow:0 1px 2px #0001}
.headline b{font-size:22px}
.faster b{color:#1b7f3b}.slower b{color:#c62828}
.notice{background:#fff4e5;border-left:4px solid #f0a202;padding:10px 14px;margin:10px 0}
code{font-family:ui-monospace,SFMono-Regular,Menlo,monospace;font-size:13px}
table{border-collapse:collapse;background:#fff;width:100%;font-size:14px}
td,th{padding:5px 10px;border-bottom:1px solid #e6e8eb;text-align:right}
td:first-child,th:first-child{text-align:left}
.part td:first-child{padding-left:24px;color:#5b6475}
.findings div{margin:4px 0}
.fixed b{color:#1b7f3b}.new b{color:#c62828}.remaining b{color:#b07400}
"""


def _html_pair(p: Pair) -> str:
    word = "faster" if p.speedup and p.speedup >= 1 else "slower"
    step = f"<div>{html_text(step_text(p.step))}</div>" if p.step else ""
    head = "".join(f"<th>{h}</th>" for h in ("", "base", "new", "delta", "change"))
    body = "".join(
        ("<tr class=part>" if key in STEP_PARTS else "<tr>")
        + "".join(f"<td>{html_text(x)}</td>" for x in row)
        + "</tr>"
        for key, row in zip(p.phases, rows(p), strict=True)
    )
    findings = "".join(
        f'<div class="{attr.split("_")[0]}"><b>{title.capitalize()}:</b> '
        + (", ".join(f"<code>{html_text(x)}</code>" for x in getattr(p, attr)) or "none")
        + "</div>"
        for attr, title in _FINDINGS
    )
    return (
        f'<div class="headline {word}"><b>{html_text(speedup_text(p))}</b>{step}'
        f'<div class="meta">base: <code>{html_text(p.base)}</code></div>'
        f'<div class="meta">new: <code>{html_text(p.new)}</code></div></div>'
        f"<table><tr>{head}</tr>{body}</table>"
        f'<div class="meta">{html_text(FOOTNOTE)}</div>'
        f'<h2>Findings</h2><div class="findings">{findings}</div>'
    )


def render_html(c: Comparison) -> str:
    inputs = f"{html_text(c.base)} &rarr; {html_text(c.new)}"
    warning = "".join(f'<div class="notice"><b>{html_text(n)}</b></div>' for n in c.notices)
    if c.differences:
        items = "".join(f"<div><code>{html_text(d)}</code></div>" for d in c.differences)
        warning += f'<div class="notice"><b>Warning:</b> {html_text(WARNING)}{items}</div>'
    sections = "".join(
        (f"<h2>{html_text(title)}</h2>" if title else "") + _html_pair(p)
        for title, p in c.pairs.items()
    )
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<title>perfkit compare</title><style>{_CSS}</style></head><body><main>"
        f"<h1>perfkit compare</h1><div class=meta>{inputs}</div>{warning}{sections}"
        "</main></body></html>\n"
    )


RENDERERS: dict[str, Callable[[Comparison], str]] = {
    "terminal": render_text,
    "markdown": render_markdown,
    "json": render_json,
    "html": render_html,
}


def render(c: Comparison, fmt: str) -> str:
    return RENDERERS[fmt](c)
