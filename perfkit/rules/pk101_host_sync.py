"""PK101 host-sync: the host waits for the device inside the step.

What it detects: ``.item()``, ``.cpu()``, ``.tolist()``, ``.numpy()``, ``print(t)``,
``bool(t)``/``float(t)`` on device tensors, ``torch.cuda.synchronize()`` and data-dependent
shapes, counted per step with their call sites; in traces, cudaStreamSynchronize /
cudaDeviceSynchronize / cudaEventSynchronize / cudaMemcpy (and hip*) and
``aten::_local_scalar_dense``.

Example (trace shape)::

    ProfilerStep#3
      aten::item
        aten::_local_scalar_dense
          cudaMemcpyAsync
          cudaStreamSynchronize   <- the CPU waits here for every queued kernel
"""

from __future__ import annotations

from perfkit.analysis.evidence import Evidence, NotApplicable, share_text
from perfkit.analysis.model import Finding, Location, Severity, severity_for_share
from perfkit.rules._base import Rule
from perfkit.rules._common import code_of, median, per_step_syncs, site_totals, top_locations


def check(ev: Evidence) -> list[Finding]:
    """From the run's counters when there is a run, sized by a GPU trace when there is one."""
    gpu_trace = ev.trace is not None and ev.trace.steps and ev.trace.has_gpu_activity
    if ev.run is not None:
        return _from_run(ev, _trace_wait(ev) if gpu_trace else None)
    if gpu_trace:
        return _from_trace(ev)
    raise NotApplicable("needs a run file or a GPU trace with steps")


def _trace_wait(ev: Evidence) -> tuple[float, float]:
    """(ms the CPU waits in sync calls per step, share of the step) from the trace."""
    steps = ev.trace.steps
    wait_ms = sum(s.sync_us for s in steps) / 1e3 / len(steps)
    step_ms = ev.trace.window_us / 1e3 / len(steps)
    return wait_ms, (wait_ms / step_ms if step_ms else 0.0)


def _from_run(ev: Evidence, wait: tuple[float, float] | None) -> list[Finding]:
    counts = per_step_syncs(ev)
    per_step = median(counts)
    if not counts or per_step < 1:
        return []
    totals = site_totals(ev, "syncs")
    locations = top_locations(ev, totals, len(counts))
    top = locations[0]
    top_share = totals.most_common(1)[0][1] / max(sum(totals.values()), 1)
    on_gpu = bool(ev.run.capture.get("accelerator"))
    message = (
        f"{per_step:.0f} host sync{'s' if per_step != 1 else ''} per step, "
        f"{share_text(top_share)} at {top.short()}{code_of(top)}"
    )
    if not on_gpu:
        message += " (each would stall a GPU run)"
    evidence = {
        "syncs_per_step": per_step,
        "steps": len(counts),
        "sync_semantics": ev.run.capture.get("sync_semantics"),
    }
    if wait is None:
        return [
            RULE.finding(
                ev,
                Severity.WARNING,
                message,
                evidence,
                locations=locations,
                saving_reason="A sync costs the time the GPU needs to drain its queue, which "
                "counters cannot see; a profiler window on the GPU measures it.",
            )
        ]
    wait_ms, share = wait
    evidence["sync_wait_ms_per_step"] = round(wait_ms, 3)
    return [
        RULE.finding(
            ev,
            max(Severity.WARNING, severity_for_share(share)),
            f"{message}; the CPU waits {wait_ms:.2f} ms a step ({share_text(share)})",
            evidence,
            locations=locations,
            saving_ms=wait_ms,
            saving_reason=_TRACE_SAVING,
        )
    ]


def _from_trace(ev: Evidence) -> list[Finding]:
    trace = ev.trace
    steps = trace.steps
    syncs = sum(s.syncs for s in steps)
    reads = sum(s.scalar_reads for s in steps)
    if not syncs and not reads:
        return []
    wait_ms, share = _trace_wait(ev)
    apis = ", ".join(f"{name} x{int(v['count'])}" for name, v in trace.syncs.items())
    message = (
        f"{syncs / len(steps):.1f} blocking syncs and {reads / len(steps):.0f} scalar reads "
        f"per step; the CPU waits {wait_ms:.2f} ms a step ({share_text(share)})"
    )
    locations = []
    for frame, n in trace.scalar_read_sites[:5]:
        file, _, rest = frame.partition("(")
        line = rest.split(")", 1)[0]
        function = rest.split(": ", 1)[-1] if ": " in rest else ""
        locations.append(
            Location(file=file, line=int(line) if line.isdigit() else 0, function=function, count=n)
        )
    return [
        RULE.finding(
            ev,
            severity_for_share(share),
            message,
            {
                "syncs_per_step": syncs / len(steps),
                "scalar_reads_per_step": reads / len(steps),
                "sync_wait_ms_per_step": round(wait_ms, 3),
                "apis": apis,
            },
            locations=locations,
            saving_ms=wait_ms,
            saving_reason=_TRACE_SAVING,
        )
    ]


_TRACE_SAVING = (
    "Time the CPU spent blocked in sync calls (profiler window); without the syncs it "
    "queues the next kernels instead. An upper bound: some waits may move elsewhere."
)


RULE = Rule(
    code="PK101",
    slug="host-sync",
    title="The host waits for the device inside the step",
    why=(
        "CUDA runs asynchronously: the CPU queues kernels and moves on. Reading a value back "
        "(.item(), .cpu(), print(t), if loss < best) makes the CPU wait until every queued "
        "kernel has finished, so the GPU then idles while Python prepares the next launch. "
        "Once per step is enough to turn a GPU-bound loop into a launch-bound one."
    ),
    fix=(
        "Keep running values on the device (total += loss.detach()) and read them back once "
        "per epoch or every N steps; log with .detach() tensors, not floats."
    ),
    example=(
        "# before\nfor x, y in loader:\n    ...\n    running += loss.item()\n"
        "# after\nrunning = torch.zeros((), device=device)\nfor x, y in loader:\n    ...\n"
        "    running += loss.detach()\nprint(running.item() / len(loader))  # once"
    ),
    check=check,
    needs="run file (sync counters) or trace (sync APIs, aten::_local_scalar_dense)",
)
