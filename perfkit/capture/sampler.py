"""A daemon thread sampling the host (psutil) and the GPU (NVML) at a fixed rate.

No GPU, no driver or no ``pynvml`` module: the reason is recorded and host sampling goes
on. The thread never keeps the process alive (daemon, and ``stop`` joins with a timeout).
It also calls a periodic hook — the Session's flush — so the run file stays fresh while
the training thread is busy.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import psutil

from perfkit.capture import guard
from perfkit.runmodel import Samples

# Keep at most this many samples per series; beyond it, every other sample is dropped and
# the interval doubles, so a week-long run stays a few hundred kB.
MAX_SAMPLES = 20_000


def open_nvml(device_index: int | None) -> tuple[Any, Any, str]:
    """(pynvml module, device handle, reason) — module and handle are None on failure."""
    if device_index is None:
        return None, None, "no CUDA device in use"
    try:
        import pynvml
    except ImportError:
        return None, None, "the pynvml module (nvidia-ml-py) is not installed"
    try:
        pynvml.nvmlInit()
        return pynvml, pynvml.nvmlDeviceGetHandleByIndex(device_index), ""
    except Exception as e:  # NVMLError has many subclasses; any of them means "no NVML"
        return None, None, f"NVML unavailable: {e}"


# With sampling off, how often the periodic write is offered a turn (it keeps its own pace).
TICK_WITHOUT_SAMPLES_S = 0.5


class Sampler:
    def __init__(
        self,
        hz: float,
        device_index: int | None,
        on_tick: Callable[[], None] | None = None,
    ) -> None:
        self.interval_s = 1.0 / hz if hz > 0 else 0.0
        self.device_index = device_index
        self.on_tick = on_tick
        self.series: dict[str, list[float | None]] = {"t": [], "cpu_percent": [], "rss_bytes": []}
        self.nvml: dict[str, Any] = {"available": False, "reason": "sampler not started"}
        self._t0 = time.perf_counter()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._process = psutil.Process()

    def start(self, t0: float) -> None:
        self._t0 = t0
        run = self._run
        if self.interval_s <= 0:
            self.nvml = {"available": False, "reason": "sampling disabled"}
            if self.on_tick is None:
                return
            run = self._tick_only  # no samples, but the run file is still written as it goes
        self._thread = threading.Thread(target=run, name="perfkit-sampler", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=2.0)

    def snapshot(self) -> Samples:
        return Samples(
            interval_s=self.interval_s,
            nvml=dict(self.nvml),
            series={k: tuple(v) for k, v in list(self.series.items())},
        )

    def _run(self) -> None:
        nvml, handle, reason = open_nvml(self.device_index)
        self.nvml = {"available": handle is not None, "reason": reason}
        if handle is not None:
            for key in ("gpu_util", "gpu_mem_used_bytes", "power_w", "pcie_tx_kbs", "pcie_rx_kbs"):
                self.series[key] = []
        self._process.cpu_percent()  # the first call only primes the counter
        while not self._stop.wait(self.interval_s):
            guard.call("the sampler", self._sample, nvml, handle)
            if self.on_tick is not None:
                guard.call("the periodic write", self.on_tick)
        if nvml is not None:
            try:
                nvml.nvmlShutdown()
            except Exception:
                pass

    def _tick_only(self) -> None:
        while not self._stop.wait(TICK_WITHOUT_SAMPLES_S):
            guard.call("the periodic write", self.on_tick)

    def _sample(self, nvml: Any, handle: Any) -> None:
        s = self.series
        s["t"].append(round(time.perf_counter() - self._t0, 4))
        s["cpu_percent"].append(self._process.cpu_percent())
        s["rss_bytes"].append(self._process.memory_info().rss)
        if handle is not None:
            self._sample_gpu(nvml, handle)
        if len(s["t"]) > MAX_SAMPLES:
            for key in s:
                del s[key][::2]
            self.interval_s *= 2

    def _sample_gpu(self, nvml: Any, handle: Any) -> None:
        s = self.series
        readings = {
            "gpu_util": lambda: nvml.nvmlDeviceGetUtilizationRates(handle).gpu,
            "gpu_mem_used_bytes": lambda: nvml.nvmlDeviceGetMemoryInfo(handle).used,
            "power_w": lambda: nvml.nvmlDeviceGetPowerUsage(handle) / 1000.0,
            "pcie_tx_kbs": lambda: nvml.nvmlDeviceGetPcieThroughput(
                handle, nvml.NVML_PCIE_UTIL_TX_BYTES
            ),
            "pcie_rx_kbs": lambda: nvml.nvmlDeviceGetPcieThroughput(
                handle, nvml.NVML_PCIE_UTIL_RX_BYTES
            ),
        }
        for key, read in readings.items():
            try:
                s[key].append(read())
            except Exception:
                s[key].append(None)  # a counter this GPU does not expose
