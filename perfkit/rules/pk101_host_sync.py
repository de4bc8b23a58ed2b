"""PK101 host-sync: The host waits for the device inside the step.

## What it detects
``.item()``, ``.cpu()``, ``.tolist()``, ``.numpy()``, ``print(t)``, ``bool(t)``/``float(t)``
on device tensors, ``torch.cuda.synchronize()`` and data-dependent shapes, counted per step
with their call sites; in traces, cudaStreamSynchronize / cudaDeviceSynchronize /
cudaEventSynchronize / cudaMemcpy (and hip*) and ``aten::_local_scalar_dense``.

In a trace:

    ProfilerStep#3
      aten::item
        aten::_local_scalar_dense
          cudaMemcpyAsync
          cudaStreamSynchronize   <- the CPU waits here for every queued kernel

## Why it is slow
CUDA runs asynchronously: the CPU queues kernels and moves on. Reading a value back
(.item(), .cpu(), print(t), if loss < best) makes the CPU wait until every queued kernel has
finished, so the GPU then idles while Python prepares the next launch. Once per step is
enough to turn a GPU-bound loop into a launch-bound one.

## Example

    # before
    for x, y in loader:
        ...
        running += loss.item()
    # after
    running = torch.zeros((), device=device)
    for x, y in loader:
        ...
        running += loss.detach()
    print(running.item() / len(loader))  # once

## Fix
Keep running values on the device (total += loss.detach()) and read them back once per epoch
or every N steps; log with .detach() tensors, not floats.

## Saving
With a GPU trace: the time the CPU spent blocked in sync calls per step, measured in the
profiler window; without the syncs it queues the next kernels instead. An upper bound, since
some waits may move elsewhere. From a run file alone the cost is not sized: a sync costs the
time the GPU needs to drain its queue, which counters cannot see.
"""

from __future__ import annotations

import dataclasses
from collections import Counter

from perfkit.evidence import Evidence, Need, share_text
from perfkit.findings import Finding, Location, Severity
from perfkit.rules._base import Rule
from perfkit.rules._common import code_of, median, per_step_syncs, site_totals, sites_of

# A site that syncs in at least this share of the timed steps belongs to the step.
RECURRING = 0.5
# When this share of the syncs or more happens inside libraries, the user has none to fix.
LIBRARY_ONLY_SHARE = 0.9
LIBRARY_FIX = (
    "These reads happen inside the library called from your line (an LBFGS line search, "
    "GradScaler's inf check, a metrics package): look for its option that avoids them, "
    "or call it less often."
)
# What a framework offers against its own per-step syncs, by the file they happen in.
FRAMEWORK_FIXES = {
    "transformers/trainer.py": (
        "The Hugging Face Trainer checks every step's loss for NaN/inf on the host "
        "(logging_nan_inf_filter, on by default): TrainingArguments("
        "logging_nan_inf_filter=False) removes that sync."
    ),
    "torch/optim/lbfgs.py": (
        "LBFGS reads the loss and its line-search values back on every iteration by "
        "design: fewer iterations per step (max_iter) or a first-order optimizer avoid them."
    ),
    "torch/amp/grad_scaler.py": (
        "GradScaler reads its inf check back once per step: the price of fp16 loss scaling "
        "(bf16 autocast needs no scaler)."
    ),
}


def check(ev: Evidence) -> list[Finding]:
    """From the run's counters when there is a run, sized by a GPU trace when there is one."""
    if ev.run is not None:
        return _from_run(ev, _trace_wait(ev) if ev.gpu_trace else None)
    return _from_trace(ev)


def _trace_wait(ev: Evidence) -> tuple[float, float]:
    """(ms the CPU waits in sync calls per step, share of the step) from the trace."""
    steps = ev.the_trace.steps
    wait_ms = sum(s.sync_us for s in steps) / 1e3 / len(steps)
    return wait_ms, ev.share_of_step(wait_ms)


def _outside_totals(ev: Evidence) -> Counter[int]:
    """Syncs in the loop body around decorated steps (the same cost every iteration)."""
    totals: Counter[int] = Counter()
    run = ev.the_run
    if run.capture.step_source != "decorator":
        return totals  # automatic steps are back to back: nothing runs between them
    outside = run.outside_steps
    for site in outside.syncs.sites:
        if site.site not in ev.host_read_sites:
            totals[site.site] += site.count
    # Only what recurs with the iterations, in most gaps between two steps: not set-up
    # before the loop, an evaluation after it or once an epoch.
    steps = max(run.step_count, 1)
    if outside.gap_sync_sites is None:  # older run files: by count alone
        return Counter({k: n for k, n in totals.items() if n >= RECURRING * steps})
    gaps = {g.site: g.count for g in outside.gap_sync_sites}
    return Counter({k: n for k, n in totals.items() if gaps.get(k, 0) >= RECURRING * (steps - 1)})


def _recurring(ev: Evidence, totals: Counter[int], fallback: bool = True) -> Counter[int]:
    """The sites that sync in most steps: the step's own. A validation loop or an epoch
    summary that falls inside one automatic step is not the step's cost, and would water
    down the share of the line that is."""
    present: Counter[int] = Counter()
    for step in ev.timed_steps:
        present.update({s.site for s in sites_of(step, "syncs")})
    steps = max(len(ev.timed_steps), 1)
    recurring = Counter({k: n for k, n in totals.items() if present[k] >= RECURRING * steps})
    return recurring or (totals if fallback else recurring)


def _from_run(ev: Evidence, wait: tuple[float, float] | None) -> list[Finding]:
    counts = per_step_syncs(ev)
    outside = _outside_totals(ev)
    # Spread over every step: a sync once per iteration counts 1, one after the loop ~0.
    outside_per_step = sum(outside.values()) / max(ev.the_run.step_count, 1)
    per_step = median(counts) + outside_per_step
    if not counts or per_step < 1:
        return []
    totals = _recurring(ev, site_totals(ev, "syncs"))
    scale = len(counts) / max(ev.the_run.step_count, 1)
    for site, n in outside.items():
        totals[site] += round(n * scale)  # the same footing as the timed steps' counts
    # The user's own reads lead: a line they wrote that syncs comes before one that only
    # calls a library which does.
    own_sites = site_totals(ev, "syncs", keep=lambda s: " in " not in s.kind)
    own_totals = _recurring(ev, own_sites, fallback=False)
    for site, n in outside.items():
        own_totals[site] += round(n * scale)
    lead = own_totals if own_totals else totals
    sites = [site for site, _ in lead.most_common(5)]
    sites += [site for site, _ in totals.most_common(5) if site not in sites][: 5 - len(sites)]
    steps = max(len(counts), 1)
    inside = _libraries_by_site(ev)
    locations = [
        dataclasses.replace(ev.location(site, count=round(totals[site] / steps)), via=inside[site])
        if site in inside
        else ev.location(site, count=round(totals[site] / steps))
        for site in sites
    ]
    top = locations[0]
    top_share = lead.most_common(1)[0][1] / max(sum(totals.values()), 1)
    on_gpu = ev.the_run.capture.accelerator
    message = (
        f"{per_step:.0f} host sync{'s' if round(per_step) != 1 else ''} per step, "
        f"{share_text(top_share)} at {top.short()}{code_of(top)}"
    )
    internal = _internal_share(ev, set(totals))
    libraries = sorted(internal)
    if libraries:
        message += f" ({share_text(sum(internal.values()))} inside {', '.join(libraries)})"
    if not on_gpu:
        message += "; each would stall a GPU run"
    if outside_per_step >= 0.5:
        message += f"; {outside_per_step:.0f} per step outside the decorated step"
    evidence = {
        "syncs_per_step": per_step,
        "outside_step_syncs_per_step": round(outside_per_step, 2),
        "inside_libraries": {k: round(v, 3) for k, v in internal.items()},
        "steps": len(counts),
        "sync_semantics": ev.the_run.capture.sync_semantics,
    }
    # Syncs only inside a library's code (LBFGS's line search, AMP's inf check) cost the
    # same, but the user's code has nothing to change: noted, not flagged.
    own = sum(internal.values()) <= LIBRARY_ONLY_SHARE
    fix = RULE.fix if own else LIBRARY_FIX
    known = [FRAMEWORK_FIXES[lib] for lib in libraries if lib in FRAMEWORK_FIXES]
    if known:
        fix = " ".join([fix, *known]) if own else " ".join(known)
    if wait is None:
        return [
            RULE.finding(
                ev,
                Severity.WARNING if own else Severity.INFO,
                message,
                evidence,
                locations=locations,
                saving_reason="A sync costs the time the GPU needs to drain its queue, which "
                "counters cannot see; a profiler window on the GPU measures it.",
                fix=fix,
            )
        ]
    wait_ms, share = wait
    evidence["sync_wait_ms_per_step"] = round(wait_ms, 3)
    return [
        RULE.finding(
            ev,
            max(Severity.WARNING, ev.severity_for_share(share)) if own else Severity.INFO,
            f"{message}; the CPU waits {wait_ms:.2f} ms a step ({share_text(share)})",
            evidence,
            locations=locations,
            saving_ms=wait_ms,
            saving_reason=_TRACE_SAVING,
            fix=fix,
        )
    ]


def _libraries_by_site(ev: Evidence) -> dict[int, str]:
    """The library each user line's syncs mostly happened in, for lines that call one."""
    by_site: dict[int, Counter[str]] = {}
    for step in ev.timed_steps:
        for site in sites_of(step, "syncs"):
            where = site.kind.partition(" in ")[2]
            by_site.setdefault(site.site, Counter())[where] += site.count
    found = {site: where.most_common(1)[0][0] for site, where in by_site.items()}
    return {site: where for site, where in found.items() if where}


def _internal_share(ev: Evidence, recurring: set[int]) -> dict[str, float]:
    """Share of the timed steps' syncs made inside each library's code (kinds 'x in lib'),
    of those at the ``recurring`` lines the finding's shares are of: a library read once an
    epoch (an image saved in an evaluation) is not part of the step's syncs."""
    by_library: Counter[str] = Counter()
    total = 0
    for step in ev.timed_steps:
        for site in sites_of(step, "syncs"):
            if site.site in ev.host_read_sites or site.site not in recurring:
                continue
            total += site.count
            _, sep, where = site.kind.partition(" in ")
            if sep:
                by_library[where] += site.count
    return {k: n / total for k, n in by_library.items()} if total else {}


def _from_trace(ev: Evidence) -> list[Finding]:
    trace = ev.the_trace
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
        number = int(line) if line.isdecimal() else 0
        locations.append(Location(file=file, line=number, function=function, count=n))
    return [
        RULE.finding(
            ev,
            ev.severity_for_share(share),
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
    doc=__doc__,
    check=check,
    reads="run file (sync counters) or trace (sync APIs, aten::_local_scalar_dense)",
    needs=((Need.RUN,), (Need.GPU_TRACE,)),
)
