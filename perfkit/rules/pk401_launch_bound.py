"""PK401 launch-bound: Many tiny ops: per-op overhead dominates the step.

## What it detects
in run files, steps made of many ops that each do little work, judged from the whole step —
forward, backward and optimizer ops counted in the probe step, against the measured time per
op — whatever lines issue them: a per-sample Python loop, a ModuleList of tiny layers, a
per-time-step cell loop. Each op costs microseconds of Python, dispatcher and (on a GPU)
kernel-launch overhead before it does any work. A tiny GPU step with few ops is noted too:
the GPU is likely slower there than the CPU. In traces: steps made mostly of kernels shorter
than 10 µs while the GPU sits idle between them.

## Why it is slow
Every op costs microseconds of Python, dispatcher and kernel-launch overhead before the
device does anything. With small tensors or per-sample loops the GPU finishes each kernel
before the next is queued: it can be slower than the CPU.

## Example

    # before
    loss = sum(F.cross_entropy(model(x[i:i+1]), y[i:i+1]) for i in range(n)) / n
    # after
    loss = F.cross_entropy(model(x), y)

## Fix
Vectorise per-sample loops into batched ops, use larger batches, or remove the overhead with
torch.compile or CUDA graphs. A loop whose iterations depend on each other (an RNN cell
stepped over time) cannot be batched: nn.LSTM/nn.GRU run the whole sequence in fused
kernels, and torch.compile fuses the loop.

## Saving
From a run file: the ops the fix removes (a loop's lines, over samples or layers, with their
backward and optimizer ops) times the measured time per op; without a loop, a fixed per-op
overhead for every op. From a GPU trace: the launch overhead of the tiny kernels, capped by
the GPU's idle time.
"""

from __future__ import annotations

from perfkit.evidence import Evidence, Need, NotApplicable, share_text
from perfkit.findings import Finding, Severity
from perfkit.rules._base import Rule
from perfkit.thresholds import Threshold

# Host cost of one op on a GPU (Python, dispatcher, launch): ~5 µs is a typical floor.
OP_OVERHEAD_US = 5.0
THRESHOLDS = (
    # Below this many ops per step there is little to fuse or batch.
    Threshold(
        "min-ops-per-step",
        200,
        "a step with fewer ops (kernels, in a trace) is not launch-bound; at most a tiny step",
    ),
    # Ops that take this long on average do real work; overhead is not what costs.
    Threshold(
        "max-us-per-op",
        25.0,
        "ops that take longer than this on average do real work: not launch-bound",
    ),
)
# A line calling the same function this many times in one step is a loop (over samples,
# time steps or layers): the lines to point at.
MIN_LINE_VISITS = 16
# Trace: a step is launch-bound when most kernels are tiny and the GPU is mostly idle.
MIN_TINY_SHARE = 0.5
MAX_BUSY_SHARE = 0.5
# A step whose launch overhead on a GPU would be this share of it or more is tiny: a GPU
# cannot make it faster than the CPU.
TINY_STEP_OVERHEAD_SHARE = 0.25


def check(ev: Evidence) -> list[Finding]:
    if ev.gpu_trace is not None:
        return _from_trace(ev)
    probe = ev.the_probe
    step_ms = ev.median_step_ms
    ops = probe.torch_calls
    if probe.ops_skipped:
        raise NotApplicable(f"the probe step could not count ops: {probe.ops_skipped}")
    if not ops or not step_ms:
        raise NotApplicable("the probe step counted no ops, or no step was timed")
    us_per_op = step_ms * 1e3 / ops
    if ops < RULE.threshold(ev, "min-ops-per-step"):
        return _tiny_step(ev, ops, step_ms)
    if us_per_op > RULE.threshold(ev, "max-us-per-op"):
        return []
    backward = probe.backward_ops or 0
    optimizer = probe.optimizer_ops or 0
    looped = _looped_lines(ev)
    loop_ops = sum(calls for _, _, calls, _ in looped)
    forward = max(ops - backward - optimizer, 1)
    passes = _passes(probe.backward_calls)
    if looped:
        # Batching an n-times loop leaves one pass of its share of forward and backward, in
        # each forward-backward pass of the step (a closure evaluated again and again, or
        # micro-batches); a loop over layers also takes the optimizer's per-parameter work.
        _, visits, _, modules = looped[0]
        over_layers = modules * 2 >= visits
        share_looped = min(1.0, loop_ops / forward)
        shrinking = forward + backward + (optimizer if over_layers else 0)
        replaced = shrinking * share_looped * (1 - passes / visits)
        saving_ms = min(step_ms, replaced * us_per_op / 1e3)
        what = "layers" if over_layers else "iterations"
        per_pass = f" in each of its {passes} forward-backward passes" if passes > 1 else ""
        how = (
            f"batching the loop's {_per_pass(visits, passes)} {what}{per_pass} into one: "
            f"{replaced:.0f} of the step's ops (forward and backward"
            f"{', and the optimizer' if over_layers else ''} in the loop's share) at the "
            f"measured {us_per_op:.1f} µs each"
        )
    elif not ev.accelerator:
        return []  # a small model on the CPU, with no loop to batch: nothing to change
    else:
        # No loop to batch: the model is simply small for its batch. What compilation or
        # CUDA graphs would save depends on the device; bound it by the launch overhead.
        saving_ms = min(step_ms, ops * OP_OVERHEAD_US / 1e3)
        how = (
            f"at most the launch overhead of {ops} ops at ~{OP_OVERHEAD_US:.0f} µs each, "
            "which torch.compile or CUDA graphs pay once; a bound, not a measured fix"
        )
    share = saving_ms / step_ms
    # Only a loop to batch has a fix whose saving was checked against the speedup it
    # gives (bench/savings.py); a small GPU model without one is noted, not flagged.
    severity = ev.severity_for_share(share) if looped else Severity.INFO
    message = (
        f"{ops} ops per step ({forward} forward, {backward} backward, {optimizer} optimizer) "
        f"take {us_per_op:.1f} µs each on average: per-op overhead dominates the "
        f"{step_ms:.1f} ms step"
    )
    if looped:
        site, visits, _, _ = looped[0]
        message += f"; {ev.location(site).short()} issues ops {visits} separate times per step"
        if passes > 1:
            message += f" ({_per_pass(visits, passes)} in each of {passes} forward-backward passes)"
    return [
        RULE.finding(
            ev,
            severity,
            message,
            {
                "ops_per_step": ops,
                "backward_ops": backward,
                "optimizer_ops": optimizer,
                "us_per_op": round(us_per_op, 2),
                "ops_in_loops": loop_ops,
                "step_ms": round(step_ms, 3),
            },
            locations=[ev.location(s, count=v) for s, v, _, _ in looped],
            saving_ms=saving_ms,
            saving_reason=f"Estimated as {how}.",
        )
    ]


def _passes(backward_calls: int) -> int:
    """Forward-backward passes in a step: one per backward (an L-BFGS closure evaluated
    again and again, micro-batches of gradient accumulation), at least one."""
    return max(1, backward_calls)


def _per_pass(visits: int, passes: int) -> str:
    """Visits of a line per pass: "~" when they do not split evenly (a closure's first
    evaluation outside the probe, an iteration more in one pass)."""
    return f"{'~' if visits % passes else ''}{visits / passes:.0f}"


def _looped_lines(ev: Evidence) -> list[tuple[int, int, int, int]]:
    """(site, visits, ops, modules called) of the lines that issue ops in a loop, busiest
    first."""
    lines: dict[tuple[str, int], list[int]] = {}
    probe = ev.the_probe
    for hot in probe.hot_lines:
        loc = ev.location(hot.site)
        slot = lines.setdefault((loc.file, loc.line), [hot.site, 0, 0, 0])
        slot[1] += hot.visits
        slot[2] += hot.calls
        slot[3] += hot.modules
    # A line visited once per backward() is not a loop but the passes themselves (micro-
    # batches of gradient accumulation, split on purpose): a loop repeats within a pass.
    passes = _passes(probe.backward_calls)
    looped = [
        (site, v, c, m)
        for site, v, c, m in lines.values()
        if v >= MIN_LINE_VISITS and v >= 2 * passes
    ]
    return sorted(looped, key=lambda t: -t[1])


def _tiny_step(ev: Evidence, ops: int, step_ms: float) -> list[Finding]:
    """Few ops, but a GPU step so short that launching them costs most of it: the seed
    article's Iris MLP, slower on the GPU than on the CPU. On a CPU run there is nothing to
    change, so nothing is said."""
    overhead_ms = ops * OP_OVERHEAD_US / 1e3
    if not ev.accelerator or overhead_ms < TINY_STEP_OVERHEAD_SHARE * step_ms:
        return []
    return [
        RULE.finding(
            ev,
            Severity.INFO,
            f"a tiny step: {ops} ops in {step_ms:.2f} ms; launching them costs "
            f"~{overhead_ms:.2f} ms ({share_text(min(overhead_ms / step_ms, 1.0))} of the "
            "step), so the GPU is likely slower here than the CPU would be",
            {"ops_per_step": ops, "step_ms": round(step_ms, 3), "gpu_launch_ms": overhead_ms},
            saving_reason="Not a saving on this device: the model is too small for a GPU to "
            "pay off. Larger batches (or the CPU) make better use of the hardware.",
        )
    ]


def _from_trace(ev: Evidence) -> list[Finding]:
    steps = ev.the_trace.steps
    kernels = sum(s.kernels for s in steps)
    tiny = sum(s.tiny_kernels for s in steps)
    window = sum(s.dur_us for s in steps)
    busy = sum(s.gpu_busy_us for s in steps) / window if window else 0.0
    per_step = kernels / len(steps)
    few = per_step < RULE.threshold(ev, "min-ops-per-step")
    if few or not kernels or tiny / kernels < MIN_TINY_SHARE:
        return []
    if busy > MAX_BUSY_SHARE:
        return []
    idle_ms = (window - sum(s.gpu_busy_us for s in steps)) / 1e3 / len(steps)
    return [
        RULE.finding(
            ev,
            ev.severity_for_share(1 - busy),
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
    doc=__doc__,
    check=check,
    reads="run file (probe step op count) or GPU trace (kernel durations)",
    needs=((Need.GPU_TRACE,), (Need.RUN, Need.PROBE)),
    thresholds=THRESHOLDS,
)
