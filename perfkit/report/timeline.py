"""The page's timeline of the profiled steps: lanes of CPU ops by thread and GPU kernels and
copies by stream, drawn on a canvas by a small inline script (no network, no library).

The trace summary bounds the events (``perfkit.trace.timeline``); here they are only packed
for the page (times in tenths of a microsecond, each start as the gap from the one before)
and put in a ``<script type="application/json">`` by ``perfkit.escape.script_json``, read
back with ``JSON.parse``: names are never code or markup. Without JavaScript (or in an
untrusted notebook) the section says so.
"""

from __future__ import annotations

from typing import Any

from perfkit.escape import html_text as _e
from perfkit.escape import script_json

# Colours of each kind of event (the script varies their lightness by name).
KINDS = {
    "op": ("CPU op", 212),
    "data": ("DataLoader wait", 8),
    "comm": ("collective", 175),
    "kernel": ("GPU kernel", 130),
    "memcpy": ("memcpy", 38),
    "memset": ("memset", 280),
    # Drawn pale, in the hue of what they are, fainter where they ran less of the block.
    "merged": ("short events, merged", 220),
}


def section(timeline: dict[str, Any] | None) -> str:
    if not timeline:
        return (
            '<h2>Timeline</h2><p class="meta">No timeline: this report has no profiler trace. '
            "perfkit records one in the run's profiler window; any Kineto trace "
            "(<code>*.pt.trace.json.gz</code>) can be reported too.</p>"
        )
    kinds = {kind for kind, _ in timeline["names"]}
    legend = "".join(
        f'<span><i style="background:hsl({hue},{35 if kind == "merged" else 55}%,'
        f'{62 if kind == "merged" else 55}%)"></i>{_e(label)}</span>'
        for kind, (label, hue) in KINDS.items()
        if kind in kinds
    )
    data = {
        "span": timeline["span_us"],
        "steps": timeline["steps"],
        "names": timeline["names"],
        "kinds": KINDS,
        "lanes": [_packed(lane) for lane in timeline["lanes"]],
    }
    heading = "the profiled steps" if timeline["steps"] else "the trace (it marks no steps)"
    return (
        f"<h2>Timeline of {heading}</h2>"
        f'<div class="meta">{_e(_what(timeline))}</div>'
        '<div class="pk-timeline" data-pk-timeline>'
        '<div class="pk-bar"><button type="button" data-act="in">+</button>'
        '<button type="button" data-act="out">&minus;</button>'
        '<button type="button" data-act="all">whole window</button>'
        "<span>drag to pan, Ctrl+wheel or double-click to zoom (Shift: out)"
        f"{', click a step to zoom to it' if timeline['steps'] else ''}</span></div>"
        f'<div class="pk-legend">{legend}</div><canvas></canvas>'
        '<div class="pk-tip"></div>'
        '<p class="pk-status">The timeline needs JavaScript (in Jupyter: a trusted notebook).</p>'
        f'<script type="application/json">{script_json(data)}</script></div>'
        f"<script>{SCRIPT}</script>"
    )


def _what(timeline: dict[str, Any]) -> str:
    """What the lanes hold: every event, or which were merged and left out."""
    rank = timeline.get("rank")
    source = f"{timeline['source']}" + (f" (rank {rank})" if rank is not None else "")
    events, kept = timeline["events"], timeline["kept"]
    if events == kept:
        return f"{source}: all {events:,} CPU ops, kernels and copies of the window."
    text = (
        f"{source}: {events:,} CPU ops, kernels and copies in the window. {kept:,} are drawn "
        f"as they are, the longest among them; {timeline['merged']:,} shorter ones (up to "
        f"{timeline['short_us']:,.1f} µs each) are merged into {timeline['blocks']:,} blocks "
        "where they follow each other closely on a lane"
    )
    if timeline["dropped"]:
        text += (
            f", and {timeline['dropped']:,} ({timeline['dropped_us'] / 1e3:,.1f} ms in all, "
            "in the least busy blocks) are left out"
        )
    return text + "."


def _packed(lane: dict[str, Any]) -> dict[str, Any]:
    """Times in tenths of a microsecond, each start as the gap from the one before."""
    starts = [round(s * 10) for s in lane["start_us"]]
    return {
        "label": lane["label"],
        "device": lane["device"],
        "start": [b - a for a, b in zip([0, *starts], starts, strict=False)],
        "dur": [round(d * 10) for d in lane["dur_us"]],
        "name": lane["name"],
        "depth": lane["depth"],
        "merged": lane["merged"],
    }


# One function per page, run for every timeline not yet drawn (a notebook may show several).
SCRIPT = r"""
(function () {
  "use strict";
  var GUTTER = 200, AXIS = 24, ROW = 14, GPU_ROW = 18, GAP = 8;

  function nice(span) {
    var raw = span / 8, mag = Math.pow(10, Math.floor(Math.log10(raw)));
    var steps = [1, 2, 5, 10];
    for (var i = 0; i < steps.length; i++) if (steps[i] * mag >= raw) return steps[i] * mag;
    return 10 * mag;
  }

  function label(us, tick) {  // an axis label, as precise as the ticks are apart
    var unit = tick >= 1e6 ? 1e6 : tick >= 1e3 ? 1e3 : 1;
    var name = {1: " \u00b5s", 1e3: " ms", 1e6: " s"};
    var digits = Math.max(0, -Math.floor(Math.log10(tick / unit) + 1e-9));
    return (us / unit).toFixed(digits) + name[unit];
  }

  function duration(us) {
    if (us >= 1e6) return (us / 1e6).toFixed(3) + " s";
    if (us >= 1e3) return (us / 1e3).toFixed(3) + " ms";
    return us.toFixed(1) + " \u00b5s";
  }

  function init(root) {
    var data = JSON.parse(root.querySelector('script[type="application/json"]').textContent);
    var canvas = root.querySelector("canvas"), ctx = canvas.getContext("2d");
    var tip = root.querySelector(".pk-tip"), status = root.querySelector(".pk-status");
    var STEPS = data.steps.length ? 20 : 0;  // a row of step markers, when there are some
    var colours = {}, y = AXIS + STEPS + GAP;
    var lanes = data.lanes.map(function (l) {
      var n = l.start.length, s = new Float64Array(n), d = new Float64Array(n);
      var t = 0, longest = 0, rows = 1;
      for (var i = 0; i < n; i++) {
        t += l.start[i];
        s[i] = t / 10;
        d[i] = l.dur[i] / 10;
        if (d[i] > longest) longest = d[i];
        if (l.depth[i] + 1 > rows) rows = l.depth[i] + 1;
      }
      var row = l.device === "gpu" ? GPU_ROW : ROW, merged = {};
      l.merged.forEach(function (m) { merged[m[0]] = m; });
      var lane = {label: l.label, s: s, d: d, name: l.name, depth: l.depth, longest: longest,
                  row: row, top: y, height: rows * row, merged: merged};
      y += lane.height + GAP;
      return lane;
    });
    var height = y, span = data.span > 0 ? data.span : 1;
    var view = {t0: -span * 0.01, t1: span * 1.01};
    var width = 0;

    function colour(id) {
      if (!(id in colours)) {
        var kind = data.names[id][0], name = data.names[id][1], h = 0;
        if (kind === "merged") {  // a block of short events: pale, in the hue of what they are
          colours[id] = "hsl(" + data.kinds[name][1] + ",35%,62%)";
          return colours[id];
        }
        for (var i = 0; i < name.length; i++) h = (h * 31 + name.charCodeAt(i)) | 0;
        var light = kind === "data" ? 52 : 45 + (Math.abs(h) % 25);
        colours[id] = "hsl(" + data.kinds[kind][1] + ",55%," + light + "%)";
      }
      return colours[id];
    }
    function X(t) { return GUTTER + (t - view.t0) / (view.t1 - view.t0) * (width - GUTTER - 4); }
    function T(x) { return view.t0 + (x - GUTTER) / (width - GUTTER - 4) * (view.t1 - view.t0); }
    function first(lane, t) {  // the first event that may still run at t
      var lo = 0, hi = lane.s.length, from = t - lane.longest;
      while (lo < hi) {
        var mid = (lo + hi) >> 1;
        if (lane.s[mid] < from) lo = mid + 1; else hi = mid;
      }
      return lo;
    }

    function draw() {
      width = Math.max(root.clientWidth, 400);
      var dpr = window.devicePixelRatio || 1;
      canvas.style.width = width + "px";
      canvas.style.height = height + "px";
      canvas.width = Math.round(width * dpr);
      canvas.height = Math.round(height * dpr);
      ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
      ctx.clearRect(0, 0, width, height);
      ctx.font = "11px system-ui, sans-serif";
      ctx.textBaseline = "middle";
      var tick = nice(view.t1 - view.t0);
      ctx.fillStyle = "#5b6475";
      ctx.strokeStyle = "#eceef1";
      for (var t = Math.ceil(view.t0 / tick) * tick; t <= view.t1; t += tick) {
        var x = X(t);
        ctx.fillText(label(t, tick), x + 3, 10);
        ctx.beginPath(); ctx.moveTo(x + 0.5, 16); ctx.lineTo(x + 0.5, height); ctx.stroke();
      }
      data.steps.forEach(function (step, i) {
        var x0 = Math.max(X(step[1]), GUTTER), x1 = Math.min(X(step[1] + step[2]), width);
        if (x1 <= x0) return;
        ctx.fillStyle = i % 2 ? "#dfe5ef" : "#eef1f6";
        ctx.fillRect(x0, AXIS, x1 - x0, STEPS);
        ctx.fillStyle = "#c3cad6";
        ctx.fillRect(Math.round(X(step[1])), AXIS, 1, height - AXIS);
        ctx.fillStyle = "#1d2433";
        fit(step[0], x0 + 4, AXIS + STEPS / 2, x1 - x0 - 8);
      });
      lanes.forEach(function (lane) {
        var end = {};
        for (var i = first(lane, view.t0); i < lane.s.length && lane.s[i] < view.t1; i++) {
          var x0 = X(lane.s[i]), x1 = X(lane.s[i] + lane.d[i]), row = lane.depth[i];
          if (x1 < GUTTER) continue;
          x0 = Math.max(x0, GUTTER);
          if (x1 - x0 < 1 && x0 < (end[row] || -1)) continue;  // that pixel is drawn
          var w = Math.max(x1 - x0, 1), top = lane.top + row * lane.row, m = lane.merged[i];
          ctx.fillStyle = colour(lane.name[i]);
          ctx.globalAlpha = m ? Math.max(0.25, Math.min(1, m[2] / lane.d[i])) : 1;  // how busy
          ctx.fillRect(x0, top + 1, w, lane.row - 2);
          ctx.globalAlpha = 1;
          end[row] = x0 + w;
          if (w > 40 && !lane.merged[i]) {
            ctx.fillStyle = "#fff";
            fit(data.names[lane.name[i]][1], x0 + 3, top + lane.row / 2, w - 6);
          }
        }
      });
      ctx.fillStyle = "#fff";
      ctx.fillRect(0, 0, GUTTER - 2, height);
      lanes.forEach(function (lane) {
        ctx.fillStyle = "#f0f2f5";
        ctx.fillRect(0, lane.top, GUTTER - 8, lane.height);
        ctx.fillStyle = "#1d2433";
        fit(lane.label, 6, lane.top + Math.min(lane.height, 18) / 2, GUTTER - 18);
      });
      ctx.fillStyle = "#5b6475";
      if (STEPS) fit("steps", 6, AXIS + STEPS / 2, GUTTER - 18);
    }
    function fit(text, x, y, room) {
      if (room < 12) return;
      var chars = Math.floor(room / 6.2);
      ctx.fillText(text.length > chars ? text.slice(0, chars - 1) + "\u2026" : text, x, y);
    }

    function at(px, py) {
      var t = T(px);
      if (py >= AXIS && py < AXIS + STEPS) {
        for (var k = 0; k < data.steps.length; k++) {
          var s = data.steps[k];
          if (t >= s[1] && t < s[1] + s[2]) return {step: s};
        }
        return null;
      }
      var slack = (view.t1 - view.t0) / (width - GUTTER) * 2;
      for (var j = 0; j < lanes.length; j++) {
        var lane = lanes[j];
        if (py < lane.top || py >= lane.top + lane.height) continue;
        var row = Math.floor((py - lane.top) / lane.row), best = -1;
        for (var i = first(lane, t - slack); i < lane.s.length && lane.s[i] <= t + slack; i++) {
          if (lane.depth[i] === row && t < lane.s[i] + lane.d[i] + slack) best = i;
        }
        return best < 0 ? null : {lane: lane, i: best};
      }
      return null;
    }
    function show(hit, ev) {
      if (!hit) { tip.style.display = "none"; return; }
      var lines;
      if (hit.step) {
        lines = [hit.step[0], duration(hit.step[2]) + ", from " + duration(hit.step[1])];
      } else {
        var lane = hit.lane, i = hit.i, named = data.names[lane.name[i]], m = lane.merged[i];
        var kind = data.kinds[named[0]][0];
        lines = m ? [m[1] + " short events merged, the first a " + data.kinds[named[1]][0],
                     duration(m[2]) + " of them in " + duration(lane.d[i]) + " on " + lane.label]
                  : [named[1], duration(lane.d[i]) + ", " + kind + " on " + lane.label];
        lines.push("from " + duration(lane.s[i]) + " into the window");
      }
      tip.textContent = lines.join("\n");
      tip.style.display = "block";
      var box = root.getBoundingClientRect();
      tip.style.left = Math.min(ev.clientX - box.left + 12, width - 320) + "px";
      tip.style.top = (ev.clientY - box.top + 16) + "px";
    }
    function zoom(factor, px) {
      var t = T(px), span = (view.t1 - view.t0) * factor;
      span = Math.min(Math.max(span, 1), data.span * 4 + 1);
      var left = (px - GUTTER) / (width - GUTTER - 4);
      view.t0 = t - left * span;
      view.t1 = view.t0 + span;
      draw();
    }
    function pos(ev) {
      var box = canvas.getBoundingClientRect();
      return [ev.clientX - box.left, ev.clientY - box.top];
    }

    var drag = null;
    canvas.addEventListener("mousedown", function (ev) {
      drag = {x: pos(ev)[0], t0: view.t0, t1: view.t1, moved: false};
    });
    window.addEventListener("mouseup", function (ev) {
      if (drag && !drag.moved && ev.target === canvas) {
        var p = pos(ev), hit = at(p[0], p[1]);
        if (hit && hit.step) {
          var pad = hit.step[2] * 0.02;
          view.t0 = hit.step[1] - pad;
          view.t1 = hit.step[1] + hit.step[2] + pad;
          draw();
        }
      }
      drag = null;
    });
    canvas.addEventListener("mousemove", function (ev) {
      var p = pos(ev);
      if (drag) {
        var dt = (p[0] - drag.x) / (width - GUTTER - 4) * (drag.t1 - drag.t0);
        if (Math.abs(p[0] - drag.x) > 2) drag.moved = true;
        view.t0 = drag.t0 - dt;
        view.t1 = drag.t1 - dt;
        draw();
        return;
      }
      show(p[0] > GUTTER ? at(p[0], p[1]) : null, ev);
    });
    canvas.addEventListener("mouseleave", function () { tip.style.display = "none"; });
    canvas.addEventListener("dblclick", function (ev) {
      zoom(ev.shiftKey ? 2 : 0.5, pos(ev)[0]);
    });
    canvas.addEventListener("wheel", function (ev) {
      if (ev.ctrlKey || ev.metaKey) {
        ev.preventDefault();
        zoom(Math.exp(ev.deltaY * 0.002), pos(ev)[0]);
      } else if (Math.abs(ev.deltaX) > Math.abs(ev.deltaY)) {
        ev.preventDefault();
        var dt = ev.deltaX / (width - GUTTER) * (view.t1 - view.t0);
        view.t0 += dt;
        view.t1 += dt;
        draw();
      }
    }, {passive: false});
    root.querySelector(".pk-bar").addEventListener("click", function (ev) {
      var act = ev.target.getAttribute && ev.target.getAttribute("data-act");
      if (act === "in") zoom(0.5, (GUTTER + width) / 2);
      if (act === "out") zoom(2, (GUTTER + width) / 2);
      if (act === "all") { view.t0 = -span * 0.01; view.t1 = span * 1.01; draw(); }
    });
    if (window.ResizeObserver) new ResizeObserver(function () { draw(); }).observe(root);
    else window.addEventListener("resize", draw);
    draw();
    status.textContent = "";
    status.style.display = "none";
    root.setAttribute("data-ready", "1");
  }

  var roots = document.querySelectorAll("[data-pk-timeline]:not([data-ready])");
  for (var i = 0; i < roots.length; i++) {
    try {
      init(roots[i]);
    } catch (e) {
      roots[i].setAttribute("data-ready", "error");
      roots[i].querySelector(".pk-status").textContent =
        "The timeline could not be drawn (" + e + ").";
    }
  }
})();
"""
