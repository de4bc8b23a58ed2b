"""One self-contained HTML page: summary, findings with fixes, charts, environment.

No network: styles inline, charts as inline SVG, the timeline drawn by an inline script.
Every string that comes from a run or a trace goes through ``perfkit.escape``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from perfkit.escape import html_text as _e
from perfkit.findings import Finding, Report
from perfkit.report import plots, timeline
from perfkit.report.text import (
    RANK_COLUMNS,
    command_text,
    duration_text,
    location_text,
    notices,
    place_text,
    project_root,
    rank_rows,
    saving_text,
    slowest_text,
    sources_text,
    verdict_text,
)

# Every rule is under the report's root class: in a notebook the report restyles nothing
# around it (and sets what a notebook's own styles would change in it). The page alone adds
# its body's margin and background.
_CSS = """
.perfkit-report{font:15px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;
  color:#1d2433;max-width:1000px;margin:0 auto;padding:24px;box-sizing:border-box}
.perfkit-report h1,.perfkit-report h2{color:inherit;font-style:normal;font-weight:700;
  border:0;padding:0}
.perfkit-report h1{font-size:24px;margin:0 0 4px}
.perfkit-report h2{font-size:19px;margin:28px 0 10px}
.perfkit-report .meta{color:#5b6475;font-size:14px}
.perfkit-report .cards{display:flex;gap:12px;flex-wrap:wrap;margin:16px 0}
.perfkit-report .card{background:#fff;border-radius:8px;padding:10px 14px;
  box-shadow:0 1px 2px #0001;min-width:120px}
.perfkit-report .card b{display:block;font-size:20px}
.perfkit-report .finding{background:#fff;border-radius:8px;padding:12px 16px;margin:10px 0;
  box-shadow:0 1px 2px #0001;border-left:5px solid #999}
.perfkit-report .error{border-color:#d62728}
.perfkit-report .warning{border-color:#f0a202}
.perfkit-report .info{border-color:#2a7ab9}
.perfkit-report .sev{font-weight:600;text-transform:uppercase;font-size:12px;letter-spacing:.04em}
.perfkit-report .error .sev{color:#d62728}
.perfkit-report .warning .sev{color:#b07400}
.perfkit-report .info .sev{color:#2a7ab9}
.perfkit-report code,.perfkit-report pre{font-family:ui-monospace,SFMono-Regular,Menlo,
  monospace;font-size:13px}
.perfkit-report pre{background:#f0f2f5;padding:8px 10px;border-radius:6px;overflow-x:auto;
  margin:6px 0}
.perfkit-report .loc{margin:2px 0}
.perfkit-report .saving{color:#6b3fa0}
.perfkit-report table{border-collapse:collapse;background:#fff;width:100%;font-size:13px;
  border:0;margin:0}
.perfkit-report tr{background:none}
.perfkit-report td,.perfkit-report th{padding:4px 8px;border:0;border-bottom:1px solid #e6e8eb;
  text-align:left;vertical-align:top}
.perfkit-report td.bar{width:40%}
.perfkit-report td.bar span{display:block;height:10px;background:#8172b2;border-radius:2px}
.perfkit-report .ok{background:#e8f5e9;padding:10px 14px;border-radius:8px}
.perfkit-report .notice{background:#fdecea;border-left:4px solid #d62728;padding:10px 14px;
  margin:10px 0;font-weight:600}
.perfkit-report svg.chart{display:block;width:100%;height:auto;background:#fff;
  border-radius:8px;margin:10px 0;box-shadow:0 1px 2px #0001}
.perfkit-report svg .title{font-size:14px;font-weight:600;fill:#1d2433}
.perfkit-report svg .tick{font-size:11px;fill:#5b6475}
.perfkit-report svg .label{font-size:12px;fill:#5b6475}
.perfkit-report svg .grid{stroke:#eceef1}
.perfkit-report svg .axis{stroke:#9aa1ad}
.perfkit-report svg .hover rect:hover{fill:#1d243314}
.perfkit-report svg .worst{fill:none;stroke:#d62728;stroke-width:1.5}
.perfkit-report svg .worst-label{fill:#d62728;font-weight:700}
.perfkit-report .pk-timeline{position:relative;background:#fff;border-radius:8px;
  box-shadow:0 1px 2px #0001;padding:8px 0;margin:10px 0}
.perfkit-report .pk-bar,.perfkit-report .pk-legend,.perfkit-report .pk-status{padding:0 10px 6px;
  font-size:12px;color:#5b6475}
.perfkit-report .pk-bar button{font:inherit;margin-right:6px;padding:1px 10px;cursor:pointer;
  border:1px solid #c3cad6;border-radius:4px;background:#f6f7f9;color:#1d2433}
.perfkit-report .pk-legend span{margin-right:14px}
.perfkit-report .pk-legend i{display:inline-block;width:10px;height:10px;margin-right:4px}
.perfkit-report .pk-timeline canvas{display:block;cursor:grab}
.perfkit-report .pk-tip{display:none;position:absolute;z-index:2;max-width:300px;
  background:#1d2433;color:#fff;font-size:12px;padding:6px 8px;border-radius:4px;
  white-space:pre-wrap;overflow-wrap:anywhere;pointer-events:none}
"""
_PAGE_CSS = "body{margin:0;background:#f6f7f9}"


def _finding(f: Finding, rule_example: str, several_sources: bool, root: str) -> str:
    sev = str(f.severity)
    locs = "".join(
        f'<div class="loc"><code>{_e(location_text(loc, root))}</code>'
        + (f" &nbsp;<code>{_e(loc.code)}</code>" if loc.code else "")
        + "</div>"
        for loc in f.locations
    )
    example = f"<pre>{_e(rule_example)}</pre>" if rule_example else ""
    place = place_text(f, several_sources)
    return (
        f'<div class="finding {sev}"><span class="sev">{sev}</span> '
        f"<b>{_e(f.code)} {_e(f.rule)}</b><div>{_e(f.message)}</div>"
        + (f'<div class="meta">{_e(place)}</div>' if place else "")
        + f"{locs}"
        f"<div><b>Fix:</b> {_e(f.fix)}</div>{example}"
        f'<div class="saving">{_e(saving_text(f))}. <span class="meta">{_e(f.saving_reason)}</span>'
        "</div></div>"
    )


def _cards(report: Report) -> str:
    s = report.summary
    cards = []

    def card(label: str, value: Any) -> None:
        if value is not None:
            cards.append(f'<div class="card"><b>{_e(value)}</b>{_e(label)}</div>')

    steps = s.get("steps") if s.get("steps") is not None else (s.get("trace") or {}).get("steps")
    card("steps", f"{steps:,}" if isinstance(steps, int) else steps)
    if s.get("median_step_ms") is not None:
        card("median step", duration_text(s["median_step_ms"]))
    if s.get("median_data_wait_ms") is not None:
        card("median data wait", duration_text(s["median_data_wait_ms"]))
    trace = s.get("trace") or {}
    if trace.get("gpu_busy_share") is not None and trace.get("device", {}).get("vendor"):
        card("GPU busy (trace)", f"{100 * trace['gpu_busy_share']:.0f}%")
    worst = {
        str(sev): sum(str(f.severity) == str(sev) for f in report.findings)
        for sev in ("error", "warning", "info")
    }
    card("findings", f"{worst['error']} / {worst['warning']} / {worst['info']}")
    return '<div class="cards">' + "".join(cards) + "</div>"


def _table(rows: list[list[Any]], header: list[str]) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{_e(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _plots(report: Report) -> str:
    s = report.summary
    series = s.get("series") or {}
    trace = s.get("trace") or {}
    # A long run's series are bins of steps: each entry's first step, and the last step.
    bins: dict[str, Any] = {
        "first_step": series.get("first_step") or (),
        "last_step": series.get("last_step"),
    }
    drawings: list[Callable[[], str | list[str | None] | None]] = [
        lambda: plots.step_phases(series),
        lambda: plots.per_step(series.get("syncs", []), "Host syncs per step", "syncs", **bins),
        lambda: plots.per_step(
            series.get("memory_bytes", []), "Memory per step", "MiB", 2**20, **bins
        ),
        lambda: plots.samples(s.get("samples") or {}),
        lambda: plots.trace_phases(
            trace.get("step_ms") or [],
            trace.get("phases_ms") or {},
            [n for n in trace.get("step_names") or [] if n.startswith("ProfilerStep")],
            # A job's summary describes one of its ranks.
            f" of rank {(trace.get('distributed') or {}).get('rank')}" if s.get("ranks") else "",
        ),
    ]
    return "".join(_drawn(draw) for draw in drawings)


def _drawn(draw: Callable[[], str | list[str | None] | None]) -> str:
    """One chart (or a few); one that fails says so and never costs the report."""
    try:
        drawn = draw()
    except Exception as e:
        why = f"a plot could not be drawn ({type(e).__name__}: {e})"
        return f'<div class="notice">{_e(why)}</div>'
    return "".join(d or "" for d in drawn) if isinstance(drawn, list) else drawn or ""


def _sites(report: Report) -> str:
    """The busiest call sites of syncs and transfers, per step, as bars in a table."""
    out = []
    for key, title in (
        ("top_sync_sites", "Top sync sites"),
        ("top_transfer_sites", "Top transfer sites"),
    ):
        sites = report.summary.get(key) or []
        if not sites:
            continue
        most = max(x["per_step"] for x in sites) or 1.0
        rows = "".join(
            f"<tr><td><code>{_e(x['site'])}</code></td><td>{_e(x['per_step'])}</td>"
            f'<td class="bar"><span style="width:{100 * x["per_step"] / most:.0f}%"></span></td>'
            "</tr>"
            for x in sites
        )
        out.append(
            f"<h2>{_e(title)}</h2><table><tr><th>call site</th><th>per step</th><th></th></tr>"
            f"{rows}</table>"
        )
    return "".join(out)


def _trace_tables(report: Report) -> str:
    trace = report.summary.get("trace") or {}
    out = []
    if trace.get("top_ops"):
        out.append("<h2>Top operators (trace, by self time)</h2>")
        out.append(
            _table(
                [
                    [n, c, f"{own / 1e3:.2f}", _share(share), f"{us / 1e3:.2f}"]
                    for n, c, us, own, share in trace["top_ops"]
                ],
                ["operator", "calls", "self ms", "share of op time", "with children ms"],
            )
        )
        out.append(
            '<div class="meta">Self time leaves out the operators an operator calls; time '
            "with children counts them again at every level of the call chain.</div>"
        )
    if trace.get("top_kernels"):
        out.append("<h2>Top kernels (trace)</h2>")
        out.append(
            _table(
                [[n[:120], c, f"{us / 1e3:.2f}"] for n, c, us in trace["top_kernels"]],
                ["kernel", "launches", "total ms"],
            )
        )
    return "".join(out)


def _share(share: float | None) -> str:
    return f"{100 * share:.1f}%" if share is not None else "-"


def _ranks(report: Report) -> str:
    rows = rank_rows(report)
    if not rows:
        return ""
    s = report.summary
    worst = s.get("slowest_rank")
    return (
        "<h2>Ranks</h2>"
        + _drawn(lambda: plots.rank_phases(s.get("ranks") or [], worst))
        + _drawn(lambda: plots.rank_spread(s.get("rank_steps") or {}, worst))
        + _table(rows, [t for _, t in RANK_COLUMNS])
        + f'<div class="meta">{_e(slowest_text(report))}</div>'
    )


def _environment(report: Report) -> str:
    s = report.summary
    # The command as a shell line; the folder it ran in is the root paths are shown from.
    env = {k: v for k, v in (s.get("env") or {}).items() if v is not None and k != "cwd"}
    if env.get("argv"):
        env["argv"] = command_text([str(a) for a in env["argv"]])
    rows = [[k, v] for k, v in env.items()]
    device = s.get("device") or (s.get("trace") or {}).get("device") or {}
    rows += [[f"device {k}", v] for k, v in device.items() if v is not None]
    rows += [
        [f"distributed {k}", v]
        for k, v in ((s.get("trace") or {}).get("distributed") or {}).items()
    ]
    return "<h2>Environment</h2>" + _table(rows, ["", ""]) if rows else ""


def render(report: Report, **_: Any) -> str:
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<title>perfkit report</title><style>{_PAGE_CSS}{_CSS}</style></head><body>"
        f'<main class="perfkit-report">{_body(report)}</main></body></html>\n'
    )


def fragment(report: Report) -> str:
    """The report without a page around it, for a notebook: its styles apply inside it
    only, so it restyles nothing of the notebook."""
    return f'<div class="perfkit-report"><style>{_CSS}</style>{_body(report)}</div>'


def _thresholds(report: Report) -> str:
    tuned = report.summary.get("thresholds")
    if not tuned:
        return ""
    return f"<div class=meta>Thresholds set by the project: {_e('; '.join(map(str, tuned)))}</div>"


def _body(report: Report) -> str:
    from perfkit.rules import find_rule

    several = len(report.sources) > 1
    findings = (
        "".join(
            _finding(f, getattr(find_rule(f.code), "example", ""), several, project_root(report))
            for f in report.findings
        )
        or f'<div class="ok">{_e(verdict_text(report))}</div>'
    )
    warnings = "".join(f'<div class="notice">{_e(n)}</div>' for n in notices(report))
    not_checked = ""
    if report.not_checked:
        not_checked = "<h2>Not checked</h2>" + _table(
            [[n.code, n.rule, n.reason] for n in report.not_checked], ["code", "rule", "why"]
        )
    return (
        f"<h1>perfkit report</h1><div class=meta>{_e(sources_text(report))}</div>"
        f"{_thresholds(report)}{warnings}"
        f"{_cards(report)}{_ranks(report)}<h2>Findings</h2>{findings}"
        f"<h2>Over the run</h2>{_plots(report)}{timeline.section(report.timeline)}"
        f"{_sites(report)}{_trace_tables(report)}{not_checked}{_environment(report)}"
    )
