"""PK301 data-starved: The step waits on the DataLoader.

## What it detects
the share of each step spent inside ``DataLoader.__next__`` (run files time it directly;
traces carry it as ``enumerate(DataLoader)#...__next__`` events).

In a trace:

    ProfilerStep#2                                  210 ms
      enumerate(DataLoader)#_SingleProcessDataLoaderIter.__next__   70 ms   <- 33%
      aten::conv2d ...

## Why it is slow
With num_workers=0 every batch is read, decoded and augmented on the training thread while
the device idles; with too few workers, they cannot keep up.

## Example

    # before
    DataLoader(ds, batch_size=64, shuffle=True)
    # after
    DataLoader(ds, batch_size=64, shuffle=True, num_workers=8,
               pin_memory=True, persistent_workers=True)

## Fix
DataLoader(num_workers=N, pin_memory=True, persistent_workers=True, prefetch_factor=2+),
with N from the CPU cores per GPU; move heavy decoding out of __getitem__ if possible.

## Saving
A lower bound of what more DataLoader workers hide: the median wait, limited by the compute
time the spare CPU cores can overlap loading with (nothing when the workers already use
every core). Severity follows the low end of the per-step shares, so a wait near a threshold
gives the same verdict run after run.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence

from perfkit.evidence import Evidence, Need, NotApplicable, share_text
from perfkit.findings import WARNING_SHARE, Finding
from perfkit.rules._base import Rule
from perfkit.rules._common import feeding_loaders, loader_locations, low_median
from perfkit.runmodel import LoaderConfig
from perfkit.thresholds import Threshold

THRESHOLDS = (
    # Below this wait per step, handing batches over from worker processes (pickling,
    # shared memory) costs about what it saves: measured here, the clean reference CNN
    # waited 1.9 ms a step with 2 workers and 0.6-1.0 ms with none (ready-made tensors).
    Threshold(
        "min-wait-ms",
        2.0,
        "a smaller wait for data per step is not reported: worker processes cost about as much",
    ),
    Threshold(
        "min-share",
        WARNING_SHARE,
        "a smaller share of the step spent waiting for data is not reported",
        share=True,
    ),
)


def check(ev: Evidence) -> list[Finding]:
    if ev.run is not None and ev.timed_steps:
        waits = [s.data_wait_ms for s in ev.timed_steps]
        periods = [s.period_ms for s in ev.timed_steps]
        loaders: Sequence[LoaderConfig] = feeding_loaders(ev.run.config.dataloaders)
        source = "run"
    elif ev.trace is not None and ev.trace.steps:
        if not any(s.dataloader_us for s in ev.trace.steps):
            return []
        waits = [s.dataloader_us / 1e3 for s in ev.trace.steps]
        periods = [s.dur_us / 1e3 for s in ev.trace.steps]
        loaders = ()
        source = "trace"
    else:
        raise NotApplicable("no steps were recorded")
    wait = statistics.median(waits)
    period = ev.median_step_ms
    if not period:
        raise NotApplicable("no step was timed")
    share = wait / period if period else 0.0
    if share < RULE.threshold(ev, "min-share") or wait < RULE.threshold(ev, "min-wait-ms"):
        return []
    workers = sorted({d.num_workers for d in loaders if d.num_workers is not None})
    message = f"the step waits {wait:.1f} ms for data ({share_text(share)} of {period:.1f} ms)"
    if workers:
        message += f"; DataLoader num_workers={','.join(map(str, workers))}"
    saving_ms, reason = _saving(wait, period, workers[0] if workers else None, ev.cores)
    if saving_ms == 0.0:
        message += f"; more workers cannot help on {ev.cores} core(s)"
    # Severity from what the fix saves, judged on the low end of the per-step shares so
    # that a wait hovering at a threshold does not flip the verdict from run to run.
    steady = (
        low_median([w / p for w, p in zip(waits, periods, strict=True) if p]) if periods else share
    )
    sized = min(saving_ms / period, steady) if saving_ms is not None and period else steady
    return [
        RULE.finding(
            ev,
            ev.severity_for_share(sized),
            message,
            {
                "data_wait_ms": round(wait, 3),
                "step_ms": round(period, 3),
                "share": round(share, 3),
                "from": source,
                "num_workers": workers,
                "cores": ev.cores,
            },
            locations=loader_locations(ev, loaders) if ev.run is not None else [],
            saving_ms=saving_ms,
            saving_reason=reason,
            fix=RULE.fix if ev.accelerator is not False else CPU_FIX,
        )
    ]


def _saving(
    wait: float, period: float, workers: int | None, cores: int | None
) -> tuple[float | None, str]:
    """What more loader workers would save at least, bounded by compute and by the cores.

    Loading overlaps with compute at best: the step cannot get shorter than its compute,
    nor than the time to load a batch split over the workers the cores can run beside the
    training process. With no workers, loading a batch took about the wait; with k workers
    falling behind, they deliver one batch per step, so a batch takes k steps to load. A
    lower bound, measured against the fix (bench/savings.py): in a worker, loading often
    runs faster than it did on the training thread.
    """
    compute = period - wait
    if workers is None or cores is None:
        return wait, (
            "An upper bound: the whole wait, if loading fully overlapped with compute "
            "(the loader's settings or the cores were not recorded)."
        )
    spare = max(cores - 1, 0)
    load = wait if workers == 0 else workers * period
    if spare <= workers:
        return 0.0, (
            f"Not more workers: {cores} core(s), so {spare} worker(s) can run beside training "
            f"and {workers} already do. Make each batch cheaper to load (decode once, cache, "
            "lighter augmentation), or give the job more cores."
        )
    best = max(compute, load / spare)
    return max(period - best, 0.0), (
        f"A lower bound: with {spare} worker(s) (the {cores} cores less the training "
        f"process) loading overlaps with compute, so a step takes max(compute "
        f"{compute:.1f} ms, load {load:.1f} ms / {spare}) = {best:.1f} ms instead of "
        f"{period:.1f} ms. Loading in a worker is often cheaper than on the training thread "
        f"(it competes with no training threads), so the saving can reach the whole wait, "
        f"{wait:.1f} ms."
    )


# On a CPU-only run there is no device to pin memory for.
CPU_FIX = (
    "DataLoader(num_workers=N, persistent_workers=True, prefetch_factor=2+), with N from "
    "the cores beside the training process; move heavy decoding out of __getitem__ if possible."
)

RULE = Rule(
    doc=__doc__,
    check=check,
    reads="run file (DataLoader __next__ timing) or trace (DataLoader events)",
    needs=((Need.RUN,), (Need.TRACE,)),
    thresholds=THRESHOLDS,
)
