"""PK202 eval-grad: Evaluation or inference forward with grad enabled.

## What it detects
forward passes of modules in eval mode made while grad is enabled.

## Why it is slow
model.eval() only changes dropout and batch-norm; autograd still records every op and keeps
activations alive for a backward that never comes.

## Example

    # before
    model.eval()
    out = model(x)
    # after
    model.eval()
    with torch.inference_mode():
        out = model(x)

## Fix
Wrap evaluation in torch.no_grad() (or torch.inference_mode()).

## Saving
Not sized: evaluation runs outside the training steps; without grad it keeps no activations,
uses less memory and skips graph bookkeeping.
"""

from __future__ import annotations

from perfkit.evidence import Evidence
from perfkit.findings import Finding, Severity
from perfkit.rules._base import Rule


def check(ev: Evidence) -> list[Finding]:
    forwards = ev.the_run.eval_forwards
    with_grad = forwards.forwards_with_grad
    if not with_grad:
        return []
    total = with_grad + forwards.forwards_without_grad
    locations = [ev.location(s.site, count=s.count) for s in forwards.sites]
    return [
        RULE.finding(
            ev,
            Severity.WARNING,
            f"{with_grad} of {total} eval-mode forwards ran with grad enabled",
            {
                "forwards_with_grad": with_grad,
                "eval_forwards": total,
                "modules": forwards.modules_with_grad,
            },
            locations=locations,
            saving_reason="Evaluation runs outside the training steps; without grad it "
            "keeps no activations, uses less memory and skips graph bookkeeping.",
        )
    ]


RULE = Rule(
    doc=__doc__,
    check=check,
    reads="run file (eval-mode forward hooks)",
)
