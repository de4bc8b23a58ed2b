"""PK401 launch-bound: many tiny ops per step; per-op overhead dominates.

What it detects: in run files, the torch calls of the probe step (each one a kernel launch
and a trip through the dispatcher on a GPU); in traces, steps made mostly of kernels
shorter than 10 µs while the GPU sits idle between them.
"""

from __future__ import annotations

from perfkit.analysis.evidence import Evidence, NotApplicable, share_text
from perfkit.analysis.model import WARNING_SHARE, Finding, severity_for_share
from perfkit.rules._base import Rule

# Host cost of one op on a GPU (Python, dispatcher, launch): ~5 µs is a typical floor.
OP_OVERHEAD_US = 5.0
# Below this many ops per step there is little to fuse or batch (the seed's Iris step has ~50).
MIN_OPS_PER_STEP = 200
# Trace: a step is launch-bound when most kernels are tiny and the GPU is mostly idle.
MIN_TINY_SHARE = 0.5
MAX_BUSY_SHARE = 0.5


def check(ev: Evidence) -> list[Finding]:
    if ev.trace is not None and ev.trace.has_gpu_activity and ev.trace.steps:
        return _from_trace(ev)
    run = ev.need_run()
    calls = run.probe.get("torch_calls")
    step_ms = ev.median_step_ms
    if calls is None or not step_ms:
        raise NotApplicable("needs the probe step's torch call count (probe_step=True)")
    overhead_ms = calls * OP_OVERHEAD_US / 1e3
    share = min(overhead_ms / step_ms, 1.0)
    if calls < MIN_OPS_PER_STEP or share < WARNING_SHARE:
        return []
    return [
        RULE.finding(
            ev,
            severity_for_share(share),
            f"{calls} torch ops per step: at ~{OP_OVERHEAD_US:.0f} µs of launch overhead each "
            f"that is {overhead_ms:.1f} ms ({share_text(share)}) of a {step_ms:.1f} ms step",
            {"torch_calls_per_step": calls, "step_ms": round(step_ms, 3)},
            saving_ms=overhead_ms * (1 - MIN_OPS_PER_STEP / calls),
            saving_reason=f"Launch overhead of the ops beyond ~{MIN_OPS_PER_STEP} a step, "
            "which batching or vectorising (or torch.compile / CUDA graphs) removes.",
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
