"""PK505 cudnn-benchmark: Fixed-shape convolutions with cudnn.benchmark off.

## What it detects
A GPU run whose trace shows convolution kernels while ``torch.backends.cudnn.benchmark`` is
off.

## Why it is slow
Without benchmarking, cuDNN uses a heuristic algorithm choice; with fixed input shapes,
timing the candidates once and reusing the fastest is free speed.

## Example

    # before
    model = ConvNet().cuda()
    # after: the input shapes do not change between steps
    torch.backends.cudnn.benchmark = True
    model = ConvNet().cuda()

## Fix
torch.backends.cudnn.benchmark = True before training (leave it off when input shapes change
every step).

## Saving
Not sized: cuDNN's autotuner picks the fastest algorithm per shape; the gain is per model
(often 5-30% of convolution time) when shapes do not change.
"""

from __future__ import annotations

import re

from perfkit.evidence import Evidence, Need, NotApplicable
from perfkit.findings import Finding, Severity
from perfkit.rules._base import Rule

# cuDNN's convolution kernels: named for convolutions, or for the pass they compute
# (Hopper's "sm90_xmma_fprop_implicit_gemm_..." says neither "conv" nor anything else).
CONV_KERNEL = re.compile(r"conv|fprop|dgrad|wgrad", re.I)


def check(ev: Evidence) -> list[Finding]:
    run, trace = ev.the_run, ev.gpu_trace
    if trace is None:
        raise NotApplicable(f"needs {ev.lacks(Need.GPU_TRACE)}")
    if run.config.backends.get("cudnn_benchmark"):
        return []
    convs = [n for n, _, _ in trace.top_kernels if CONV_KERNEL.search(n)]
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
    doc=__doc__,
    check=check,
    reads="GPU run file and trace",
    needs=((Need.GPU, Need.RUN, Need.GPU_TRACE),),
)
