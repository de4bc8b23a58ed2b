"""PK401 launch-bound: many tiny ops per step; per-op overhead dominates.

What it detects: in run files, a user line that issues torch ops many separate times per
step (a per-sample or per-element Python loop; each op is a kernel launch and a trip
through the dispatcher on a GPU), from the probe step; in traces, steps made mostly of
kernels shorter than 10 µs while the GPU sits idle between them.
"""

from __future__ import annotations

from perfkit.analysis.evidence import Evidence, NotApplicable, share_text
from perfkit.analysis.model import WARNING_SHARE, Finding, severity_for_share
from perfkit.rules._base import Rule

# Host cost of one op on a GPU (Python, dispatcher, launch): ~5 µs is a typical floor.
OP_OVERHEAD_US = 5.0
# A line issuing torch ops this many separate times in one step is a loop over samples or
# elements; a model's layers are each called once (a 48-block loop is the rare exception).
MIN_LINE_VISITS = 32
# Trace: below this many kernels per step there is little to fuse or batch.
MIN_OPS_PER_STEP = 200
# Trace: a step is launch-bound when most kernels are tiny and the GPU is mostly idle.
MIN_TINY_SHARE = 0.5
MAX_BUSY_SHARE = 0.5


def check(ev: Evidence) -> list[Finding]:
    if ev.trace is not None and ev.trace.has_gpu_activity and ev.trace.steps:
        return _from_trace(ev)
    run = ev.need_run()
    step_ms = ev.median_step_ms
    if run.probe.get("torch_calls") is None or not step_ms:
        raise NotApplicable("needs the probe step's op counts (probe_step=True)")
    lines: dict[tuple[str, int], list[int]] = {}
    for hot in run.probe.get("hot_lines", []):
        loc = ev.location(hot["site"])
        slot = lines.setdefault((loc.file, loc.line), [hot["site"], 0, 0])
        slot[1] += hot["visits"]
        slot[2] += hot["calls"]
    looped = [(site, v, c) for site, v, c in lines.values() if v >= MIN_LINE_VISITS]
    if not looped:
        return []
    calls = sum(c for _, _, c in looped)
    overhead_ms = calls * OP_OVERHEAD_US / 1e3
    share = min(overhead_ms / step_ms, 1.0)
    if share < WARNING_SHARE:
        return []
    site, visits, _ = max(looped, key=lambda t: t[1])
    top = ev.location(site, count=visits)
    return [
        RULE.finding(
            ev,
            severity_for_share(share),
            f"{top.short()} issues torch ops {visits} separate times per step (a Python loop); "
            f"{calls} ops at ~{OP_OVERHEAD_US:.0f} µs of launch overhead each are "
            f"{overhead_ms:.1f} ms ({share_text(share)}) of a {step_ms:.1f} ms step",
            {
                "line_visits": visits,
                "ops_in_loops": calls,
                "torch_calls_per_step": run.probe.get("torch_calls"),
                "step_ms": round(step_ms, 3),
            },
            locations=[ev.location(s, count=v) for s, v, _ in looped],
            saving_ms=overhead_ms,
            saving_reason="The launch overhead of the looped ops, which one batched op (or "
            "torch.compile / CUDA graphs) pays once.",
        )
    ]


def _from_trace(ev: Evidence) -> list[Finding]:
    steps = ev.trace.steps
    kernels = sum(s.kernels for s in steps)
    tiny = sum(s.tiny_kernels for s in steps)
    window = sum(s.dur_us for s in steps)
    busy = sum(s.gpu_busy_us for s in steps) / window if window else 0.0
    per_step = kernels / len(steps)
    if per_step < MIN_OPS_PER_STEP or not kernels or tiny / kernels < MIN_TINY_SHARE:
        return []
    if busy > MAX_BUSY_SHARE:
        return []
    idle_ms = (window - sum(s.gpu_busy_us for s in steps)) / 1e3 / len(steps)
    return [
        RULE.finding(
            ev,
            severity_for_share(1 - busy),
            f"{per_step:.0f} kernels per step, {share_text(tiny / kernels)} shorter than "
            f"10 µs; the GPU is busy {share_text(busy)} of the step",
            {
                "kernels_per_step": round(per_step),
                "tiny_share": round(tiny / kernels, 3),
                "gpu_busy_share": round(busy, 3),
            },
            saving_ms=min(idle_ms, tiny / len(steps) * OP_OVERHEAD_US / 1e3),
            saving_reason="Launch overhead of the tiny kernels, capped by the GPU's idle time.",
        )
    ]


RULE = Rule(
    code="PK401",
    slug="launch-bound",
    title="Many tiny ops: per-op overhead dominates the step",
    why=(
        "Every op costs microseconds of Python, dispatcher and kernel-launch overhead before "
        "the device does anything. With small tensors or per-sample loops the GPU finishes "
        "each kernel before the next is queued: it can be slower than the CPU."
    ),
    fix="Vectorise per-sample loops into batched ops, use larger batches, or remove the "
    "overhead with torch.compile or CUDA graphs.",
    example="# before\n"
    "loss = sum(F.cross_entropy(model(x[i:i+1]), y[i:i+1]) for i in range(n)) / n\n"
    "# after\nloss = F.cross_entropy(model(x), y)",
    check=check,
    needs="run file (probe step op count) or GPU trace (kernel durations)",
)
