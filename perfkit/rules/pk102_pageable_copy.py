"""PK102 pageable-copy: Host-to-device copies from pageable memory.

## What it detects
``.to(device)`` of tensors that are not pinned, DataLoaders with ``pin_memory=False``
feeding a GPU; in traces, ``Memcpy HtoD (Pageable -> Device)``.

## Why it is slow
The GPU can only DMA from page-locked memory. A copy from ordinary (pageable) memory is
staged through a pinned bounce buffer by the driver, runs at a fraction of the bus bandwidth
and blocks the host until it is done.

## Example

    # before
    loader = DataLoader(ds, batch_size=64, num_workers=4)
    x = x.to('cuda')
    # after
    loader = DataLoader(ds, batch_size=64, num_workers=4, pin_memory=True)
    x = x.to('cuda', non_blocking=True)

## Fix
DataLoader(..., pin_memory=True) and x.to(device, non_blocking=True).

## Saving
With a GPU trace: half the time of the pageable host-to-device copies per step, since pinned
copies reach about twice the bandwidth and, with non_blocking=True, overlap with compute.
From a run file alone it is not sized.
"""

from __future__ import annotations

from perfkit.evidence import Evidence, Need, share_text
from perfkit.findings import Finding, Severity
from perfkit.rules._base import Rule
from perfkit.rules._common import feeding_loaders, site_totals, top_locations

# Pinned copies run at roughly twice the bandwidth of pageable ones and can overlap compute;
# the saving estimate assumes half the pageable copy time comes back.
PINNED_SPEEDUP_SAVING = 0.5


def check(ev: Evidence) -> list[Finding]:
    if ev.gpu_trace is not None:
        return _from_trace(ev)
    run = ev.the_run
    totals = site_totals(ev, "transfers", keep=lambda s: s.direction == "h2d" and not s.pinned)
    if not totals:
        return []
    steps = len(ev.timed_steps)
    per_step = sum(totals.values()) / max(steps, 1)
    loaders = [d for d in feeding_loaders(run.config.dataloaders) if not d.pin_memory]
    message = f"{per_step:.0f} pageable host-to-device copies per step"
    if loaders:
        message += f"; {len(loaders)} DataLoader(s) with pin_memory=False"
    return [
        RULE.finding(
            ev,
            Severity.WARNING,
            message,
            {"pageable_copies_per_step": per_step, "unpinned_loaders": len(loaders)},
            locations=top_locations(ev, totals, steps),
            saving_reason="The copy time is not in a run file; a GPU trace measures it.",
        )
    ]


def _from_trace(ev: Evidence) -> list[Finding]:
    trace = ev.the_trace
    pageable = trace.memcpy.get("HtoD pageable")
    if not pageable:
        return []
    steps = len(trace.steps)
    copy_ms = pageable["dur_us"] / 1e3 / steps
    saving = copy_ms * PINNED_SPEEDUP_SAVING
    share = ev.share_of_step(saving)
    return [
        RULE.finding(
            ev,
            ev.severity_for_share(share),
            f"{int(pageable['count'])} pageable HtoD copies "
            f"({pageable['bytes'] / 2**20:.1f} MiB, {copy_ms:.2f} ms a step)",
            {
                "copies": int(pageable["count"]),
                "bytes": int(pageable["bytes"]),
                "copy_ms_per_step": round(copy_ms, 3),
                "share_of_step": share_text(share),
            },
            saving_ms=saving,
            saving_reason="Half of the pageable copy time: pinned copies reach about twice "
            "the bandwidth and, with non_blocking=True, overlap with compute.",
        )
    ]


RULE = Rule(
    doc=__doc__,
    check=check,
    reads="GPU run file (transfer counters) or GPU trace (Memcpy HtoD kinds)",
    needs=((Need.GPU_TRACE,), (Need.RUN, Need.GPU)),
)
