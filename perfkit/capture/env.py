"""The environment a run was recorded in, captured once at session start."""

from __future__ import annotations

import datetime as _dt
import os
import platform
import socket
import sys
from typing import Any

import torch

from perfkit._version import __version__


def distributed() -> dict[str, Any]:
    """Rank and world size from torch.distributed when initialised, else torchrun's env vars."""
    info: dict[str, Any] = {}
    dist = torch.distributed
    if dist.is_available() and dist.is_initialized():
        info = {
            "rank": dist.get_rank(),
            "world_size": dist.get_world_size(),
            "backend": str(dist.get_backend()),
        }
    for key, env in (
        ("rank", "RANK"),
        ("world_size", "WORLD_SIZE"),
        ("local_rank", "LOCAL_RANK"),
        ("local_world_size", "LOCAL_WORLD_SIZE"),
    ):
        if key not in info and os.environ.get(env, "").isdecimal():
            info[key] = int(os.environ[env])
    return info


def accelerator_index() -> int | None:
    """The CUDA device this process uses, or None on a machine without one."""
    if not torch.cuda.is_available():
        return None
    return torch.cuda.current_device()


def nvml_index(cuda_index: int | None) -> int | None:
    """NVML numbers all GPUs; CUDA_VISIBLE_DEVICES renumbers them for CUDA."""
    if cuda_index is None:
        return None
    visible = [
        v.strip() for v in os.environ.get("CUDA_VISIBLE_DEVICES", "").split(",") if v.strip()
    ]
    if visible and cuda_index < len(visible) and visible[cuda_index].isdecimal():
        return int(visible[cuda_index])
    return cuda_index


def snapshot() -> dict[str, Any]:
    device_index = accelerator_index()
    device: dict[str, Any] = {"type": "cpu", "name": platform.processor() or platform.machine()}
    if device_index is not None:
        props = torch.cuda.get_device_properties(device_index)
        device = {
            "type": "cuda",
            "index": device_index,
            "name": props.name,
            "memory_bytes": props.total_memory,
            "capability": f"{props.major}.{props.minor}",
        }
    cudnn = torch.backends.cudnn
    return {
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "argv": list(sys.argv),
        "cwd": os.getcwd(),
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "cpu_available": _cpus_available(),
        "cpu_model": cpu_model(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "hip": getattr(torch.version, "hip", None),
        "cudnn": cudnn.version() if cudnn.is_available() else None,
        "device": device,
        "distributed": distributed(),
        "perfkit": __version__,
        "start_time": now_iso(),
    }


def cpu_model() -> str:
    """The processor's marketing name ("AMD EPYC 7B13"): platform.processor() gives only
    the architecture on Linux, so /proc/cpuinfo is read there."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key.strip() in ("model name", "Hardware", "Processor") and value.strip():
                    return value.strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _cpus_available() -> int | None:
    """Cores this process may run on (its affinity mask: what Slurm or a container grants)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count()


def now_iso() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
