"""PK505 cudnn-benchmark: fixed-shape convolutions with ``cudnn.benchmark`` off."""

from __future__ import annotations

from perfkit.evidence import Evidence, Need, NotApplicable
from perfkit.findings import Finding, Severity
from perfkit.rules._base import Rule


def check(ev: Evidence) -> list[Finding]:
    run, trace = ev.run, ev.gpu_trace
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
    reads="GPU run file and trace",
    needs=((Need.GPU, Need.RUN, Need.GPU_TRACE),),
)
