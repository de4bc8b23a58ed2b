"""What a very long run costs with perfkit left on, and what its report costs.

One child process runs a trivial step (an integer add) N times: first bare, then under
``@profile_step`` with perfkit's defaults (probe step, heap scans, profiler window,
sampler, TensorBoard scalars when installed). It reads its RSS at step 10,000 and at the
end, and times every write of the run file. The per-step cost is perfkit's loop minus the
bare loop, both timed past the first 10,000 steps, in the same process. Then each report
format runs on the run directory in a fresh process, timed end to end with its peak RSS.

    python bench/longrun.py [--steps 1000000] [--keep DIR]

Targets (issue 14): RSS growth after 10,000 steps <= 10 MiB, run.json <= 20 MB, TensorBoard
events <= 10 MB, every report format <= 5 s and <= 500 MB.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from _measure import RESULTS, measure

CHILD = r"""
import json, os, statistics, sys, time
N, OUT = int(sys.argv[1]), sys.argv[2]
PAGE = os.sysconf("SC_PAGE_SIZE")
WARM = 10_000

def rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * PAGE

def work(i):
    return i + 1

t0 = time.perf_counter()
for i in range(N - WARM):
    work(i)
bare = time.perf_counter() - t0

import perfkit
from perfkit.capture import writer

flushes = []
flush = writer.RunWriter.flush
def timed_flush(self, complete):
    t, cpu = time.perf_counter(), time.thread_time()
    flush(self, complete)
    flushes.append((time.perf_counter() - t, time.thread_time() - cpu))
writer.RunWriter.flush = timed_flush

step = perfkit.profile_step(out=OUT)(work)
for i in range(WARM):
    step(i)
rss_warm = rss()
t0 = time.perf_counter()
for i in range(N - WARM):
    step(i)
profiled = time.perf_counter() - t0
rss_end = rss()
from perfkit.capture.step import default_session
default_session().close()
print(json.dumps({
    "bare_us": 1e6 * bare / (N - WARM),
    "perfkit_us": 1e6 * profiled / (N - WARM),
    "rss_at_10k_mib": rss_warm / 2**20,
    "rss_growth_mib": (rss_end - rss_warm) / 2**20,
    "flushes": len(flushes),
    "flush_median_ms": 1e3 * statistics.median(w for w, _ in flushes),
    "flush_max_ms": 1e3 * max(w for w, _ in flushes),
    "flush_cpu_max_ms": 1e3 * max(c for _, c in flushes),
    "flush_cpu_ms": [round(1e3 * c, 1) for _, c in flushes],
}))
"""

FORMATS = ("terminal", "json", "markdown", "html")


def capture(steps: int, run_dir: Path) -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, str(steps), str(run_dir)],
        capture_output=True,
        text=True,
        check=True,
    )
    figures = json.loads(proc.stdout.strip().splitlines()[-1])
    events = sum(p.stat().st_size for p in run_dir.rglob("events.out.tfevents.*"))
    run = json.loads((run_dir / "run.json").read_text())
    figures.update(
        steps=steps,
        cost_us=figures["perfkit_us"] - figures["bare_us"],
        run_json_mb=(run_dir / "run.json").stat().st_size / 1e6,
        tensorboard_mb=events / 1e6,
        steps_kept=len(run["steps"]),
        step_blocks=len(run.get("step_blocks", [])),
    )
    return figures


def reports(run_dir: Path, out: Path) -> dict[str, Any]:
    cmd = [sys.executable, "-m", "perfkit", "report", str(run_dir), "-f"]
    return {fmt: measure([*cmd, fmt, "-o", str(out / f"report.{fmt}")], 120) for fmt in FORMATS}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=1_000_000)
    parser.add_argument("--keep", help="leave the run directory here")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        run_dir = Path(tmp) / "run"
        print(f"capturing {args.steps:,} steps ...", file=sys.stderr)
        figures = capture(args.steps, run_dir)
        figures["reports"] = reports(run_dir, Path(tmp))
        if args.keep:
            shutil.copytree(run_dir, args.keep, dirs_exist_ok=True)
    print(
        f"{figures['steps']:,} steps: {figures['cost_us']:.1f} us/step over the bare loop "
        f"({figures['bare_us']:.2f} -> {figures['perfkit_us']:.2f} us); RSS "
        f"{figures['rss_at_10k_mib']:.0f} MiB at step 10,000, then "
        f"{figures['rss_growth_mib']:+.1f} MiB; run.json {figures['run_json_mb']:.2f} MB "
        f"({figures['steps_kept']:,} steps kept, {figures['step_blocks']} blocks); TensorBoard "
        f"{figures['tensorboard_mb']:.2f} MB; {figures['flushes']} writes of the run file, "
        f"median {figures['flush_median_ms']:.0f} ms, longest {figures['flush_max_ms']:.0f} ms "
        f"(CPU per write: {', '.join(f'{c:.0f}' for c in figures['flush_cpu_ms'])} ms; the "
        "rest of their wall time is waiting for the GIL the training loop holds)"
    )
    for fmt, r in figures["reports"].items():
        said = r.get("error") or f"{r['s']:.2f} s, {r['rss_mib']} MiB"
        print(f"  perfkit report -f {fmt}: {said}")
    results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    results["longrun"] = {k: round(v, 3) if isinstance(v, float) else v for k, v in figures.items()}
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
