"""PK502 single-tensor-optimizer: Optimizer with foreach=False / no fused path.

## What it detects
Optimizers built with ``foreach=False`` and not fused, which update their parameter tensors
one at a time.

## Why it is slow
The per-tensor implementation launches several kernels for every parameter tensor; the
foreach and fused implementations update all of them in a few launches.

## Example

    # before
    SGD(params, lr=0.1, foreach=False)
    # after
    SGD(params, lr=0.1)  # or AdamW(..., fused=True)

## Fix
Leave foreach at its default (None), or pass fused=True where the optimizer supports it.

## Saving
Not sized: several small kernels per parameter instead of a few for all of them; on a GPU
the saving grows with the number of parameter tensors.
"""

from __future__ import annotations

from perfkit.evidence import Evidence
from perfkit.findings import Finding, Severity
from perfkit.rules._base import Rule


def check(ev: Evidence) -> list[Finding]:
    slow = [o for o in ev.the_run.config.optimizers if o.foreach is False and not o.fused]
    if not slow:
        return []
    names = ", ".join(sorted({o.type.rsplit(".", 1)[-1] for o in slow}))
    tensors = sum(o.param_tensors for o in slow)
    return [
        RULE.finding(
            ev,
            Severity.INFO,
            f"{names} with foreach=False updates {tensors} parameter tensors one at a time",
            {"optimizers": [o.type for o in slow], "param_tensors": tensors},
            saving_reason="Several small kernels per parameter instead of a few for all of "
            "them; on a GPU the saving grows with the number of parameter tensors.",
        )
    ]


RULE = Rule(
    doc=__doc__,
    check=check,
    reads="run file (optimizer settings)",
)
