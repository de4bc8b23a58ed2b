"""PK402 no-amp: fp32 matmul/conv on hardware with tensor cores.

## What it detects
a GPU of compute capability 7.0+ running GEMM/convolution kernels none of which use tensor
cores (traces), or a GPU run with no autocast and TF32 off (run files).

## Why it is slow
Tensor cores only run reduced precision (fp16/bf16, or TF32 for fp32 inputs); plain fp32
leaves most of the GPU's matmul throughput unused.

## Example

    # before
    loss = criterion(model(x), y)
    # after
    with torch.autocast('cuda', dtype=torch.bfloat16):
        loss = criterion(model(x), y)

## Fix
Train under torch.autocast(device_type='cuda', dtype=torch.bfloat16) (fp16 with a GradScaler
on pre-Ampere GPUs), or at least torch.backends.cuda.matmul.allow_tf32 = True.

## Saving
Not sized: bf16/fp16 tensor-core GEMMs typically run several times faster than fp32; the
gain depends on the GEMM share of the step, which a trace shows.
"""

from __future__ import annotations

from perfkit.evidence import Evidence, Need, NotApplicable
from perfkit.findings import Finding, Severity
from perfkit.rules._base import Rule

TENSOR_CORE_CAPABILITY = 7.0


def _capability(ev: Evidence) -> float | None:
    text: str | None = ev.run.env.device.capability if ev.run is not None else None
    if not text and ev.trace is not None:
        text = ev.trace.device.get("capability")
    try:
        return float(text) if text else None
    except ValueError:
        return None


def check(ev: Evidence) -> list[Finding]:
    capability = _capability(ev)
    if capability is None:
        raise NotApplicable("needs the GPU's compute capability (deviceProperties)")
    if capability < TENSOR_CORE_CAPABILITY:
        return []
    if ev.trace is not None and ev.trace.kernels.get("gemm_or_conv"):
        k = ev.trace.kernels
        if k["tensor_core"]:
            return []
        return [
            RULE.finding(
                ev,
                Severity.WARNING,
                f"{int(k['gemm_or_conv'])} GEMM/convolution kernels and none on tensor cores "
                f"(compute capability {capability})",
                {"gemm_or_conv_kernels": int(k["gemm_or_conv"]), "tensor_core_kernels": 0},
                saving_reason="bf16/fp16 tensor-core GEMMs typically run several times faster "
                "than fp32; the saving depends on the GEMM share of the step.",
            )
        ]
    if ev.run is None:
        raise NotApplicable("needs a run file or a trace with GEMM kernels")
    config = ev.run.config
    if config.autocast or config.backends.get("matmul_allow_tf32"):
        return []
    return [
        RULE.finding(
            ev,
            Severity.WARNING,
            f"no autocast and TF32 off on a GPU with tensor cores (capability {capability})",
            {"autocast": config.autocast, "backends": config.backends},
            saving_reason="Depends on the matmul/conv share of the step; a trace sizes it.",
        )
    ]


RULE = Rule(
    doc=__doc__,
    check=check,
    reads="GPU run file (autocast, TF32 flags) or GPU trace (kernel names)",
    needs=((Need.GPU,),),
)
