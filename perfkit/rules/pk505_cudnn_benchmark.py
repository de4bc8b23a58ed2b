"""PK505 cudnn-benchmark: fixed-shape convolutions with ``cudnn.benchmark`` off."""

from __future__ import annotations

from perfkit.analysis.evidence import Evidence, NotApplicable
from perfkit.analysis.model import Finding, Severity
from perfkit.rules._base import Rule


def check(ev: Evidence) -> list[Finding]:
    ev.need_accelerator()
    run = ev.need_run("a run file (the cudnn.benchmark flag)")
    trace = ev.need_trace("a GPU trace (to see convolution kernels)")
    if run.config.get("backends", {}).get("cudnn_benchmark"):
        return []
    convs = [n for n, _, _ in trace.top_kernels if "conv" in n.lower()]
    if not trace.kernels.get("gemm_or_conv") or not convs:
        raise NotApplicable("no convolution kernels in the trace")
    return [
        RULE.finding(
            ev,
            Severity.INFO,
            "convolutions run with torch.backends.cudnn.benchmark = False",
            {"conv_kernels_in_top": len(convs)},
            saving_reason="cuDNN's autotuner picks the fastest algorithm per shape; the gain "
            "is per model (often 5-30% of convolution time) when shapes do not change.",
        )
    ]


RULE = Rule(
    code="PK505",
    slug="cudnn-benchmark",
    title="Fixed-shape convolutions with cudnn.benchmark off",
    why="Without benchmarking, cuDNN uses a heuristic algorithm choice; with fixed input "
    "shapes, timing the candidates once and reusing the fastest is free speed.",
    fix="torch.backends.cudnn.benchmark = True before training (leave it off when input "
    "shapes change every step).",
    example="torch.backends.cudnn.benchmark = True",
    check=check,
    needs="GPU run file and trace",
)
