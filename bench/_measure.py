"""Timing a command end to end in a fresh process, with its own peak RSS."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).with_name("results.json")

# Forks the measured command from a small fresh interpreter and prints its peak RSS: a
# child forked straight from a large process would report that process's RSS as its own
# peak, since Linux carries the high-water mark across fork and exec.
_PEAK_RSS = (
    "import os, sys\n"
    "pid = os.fork()\n"
    "if pid == 0:\n"
    "    os.execvp(sys.argv[1], sys.argv[1:])\n"
    "_, status, usage = os.wait4(pid, 0)\n"
    "print(f'peak_rss_kib={usage.ru_maxrss}', file=sys.stderr)\n"
    "sys.exit(os.waitstatus_to_exitcode(status))\n"
)


def measure(cmd: list[str], timeout: float) -> dict[str, Any]:
    """Run ``cmd``; wall seconds and its peak RSS (MiB), or why it failed."""
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(
            [sys.executable, "-c", _PEAK_RSS, *cmd],
            cwd=REPO,  # python -m perfkit, -c: this checkout's perfkit, wherever the bench runs
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired:
        return {"error": f"over {timeout:.0f} s"}
    elapsed = time.perf_counter() - t0
    lines = proc.stderr.strip().splitlines()
    if proc.returncode not in (0, 1) or not lines or not lines[-1].startswith("peak_rss_kib="):
        last = next((ln for ln in reversed(lines) if not ln.startswith("peak_rss")), "")
        return {"error": f"exit {proc.returncode}: {last[:60]}"}
    return {"s": round(elapsed, 2), "rss_mib": round(int(lines[-1].split("=")[1]) / 1024)}


def measure_tree(cmd: list[str], timeout: float, every_s: float = 0.02) -> dict[str, Any]:
    """``measure``, plus ``tree_rss_mib``: the highest RSS summed over the command and every
    process it started, sampled every ``every_s`` (a pool's workers count; pages they share
    count once per process, so this is an upper bound)."""
    import psutil

    t0 = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-c", _PEAK_RSS, *cmd],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    wrapper, peak = psutil.Process(proc.pid), 0
    while proc.poll() is None:
        if time.perf_counter() - t0 > timeout:
            proc.kill()
            proc.wait()
            return {"error": f"over {timeout:.0f} s"}
        total = 0
        for child in wrapper.children(recursive=True):
            try:
                total += child.memory_info().rss
            except psutil.Error:  # ended meanwhile
                pass
        peak = max(peak, total)
        time.sleep(every_s)
    elapsed = time.perf_counter() - t0
    lines = (proc.stderr.read() if proc.stderr else "").strip().splitlines()
    if proc.returncode not in (0, 1) or not lines or not lines[-1].startswith("peak_rss_kib="):
        last = next((ln for ln in reversed(lines) if not ln.startswith("peak_rss")), "")
        return {"error": f"exit {proc.returncode}: {last[:60]}"}
    rss = round(int(lines[-1].split("=")[1]) / 1024)
    return {"s": round(elapsed, 2), "rss_mib": rss, "tree_rss_mib": max(rss, round(peak / 2**20))}
