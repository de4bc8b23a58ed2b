"""PK503 direct-forward: ``module.forward(x)`` called directly, bypassing hooks."""

from __future__ import annotations

from perfkit.evidence import Evidence, Need
from perfkit.findings import Finding, Severity
from perfkit.rules._base import Rule


def check(ev: Evidence) -> list[Finding]:
    run = ev.run
    direct = run.probe.get("direct_forward", [])
    if not direct:
        return []
    modules = ", ".join(sorted({d["module"] for d in direct}))
    return [
        RULE.finding(
            ev,
            Severity.INFO,
            f"{modules}.forward() called directly: module hooks do not run",
            {"calls": sum(d["count"] for d in direct), "modules": modules},
            locations=[ev.location(d["site"], count=d["count"]) for d in direct],
            saving_reason="A correctness and tooling problem more than a cost: DDP's gradient "
            "hooks, forward hooks and profilers' module annotations are skipped.",
        )
    ]


RULE = Rule(
    code="PK503",
    slug="direct-forward",
    title="module.forward(x) called directly",
    why="Module.__call__ runs forward pre/post hooks around forward(); calling forward() "
    "skips them, which breaks DistributedDataParallel, hooks-based tools and module "
    "profiling annotations.",
    fix="Call the module: model(x).",
    example="# before\nout = model.forward(x)\n# after\nout = model(x)",
    check=check,
    reads="run file (probe step)",
    needs=((Need.RUN, Need.PROBE),),
)
