"""Report speed and peak memory on big traces built from a real one.

A real trace's events are replicated (ids, correlations, flow ids and ProfilerStep
numbers shifted, timestamps moved past the previous copy, so every copy is new steps of
the same run) into ~50 MB, ~200 MB and ~1 GB uncompressed traces. Each reader then runs in
a fresh process, timed end to end, its peak RSS read from wait4:

  perfkit report FILE -f json   start-up, streaming read, analysis and rendering
  json.load                     the stdlib parse alone, for scale
  orjson.loads                  the fastest whole-file parse, for scale
  HTA                           Holistic Trace Analysis' TraceAnalysis(trace_dir=...), where
                                it is installed (--hta-python: an interpreter that has it)

    python bench/traces.py [--sizes 50,200,1000] [--hta-python PATH] [--timeout S]
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson

REPO = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).with_name("results.json")
SOURCE = REPO / "tests" / "data" / "traces" / "hta-v100-nccl-2rank-rank1-ddp.pt.trace.json.gz"
ID_ARGS = ("External id", "correlation", "Ev Idx")
STEP = re.compile(r"^ProfilerStep#(\d+)$")
# Time between copies, so no event of one copy overlaps the next.
GAP_US = 1000


def replicate(source: Path, out: Path, copies: int = 0, target_bytes: int = 0) -> int:
    """Write consecutive copies of ``source``'s events to ``out``: ``copies`` of them, or as
    many as come nearest ``target_bytes``. Returns the event count."""
    data = orjson.loads(
        gzip.decompress(source.read_bytes()) if _gzipped(source) else source.read_bytes()
    )
    events: list[dict[str, Any]] = data["traceEvents"]
    timed = [e for e in events if isinstance(e.get("ts"), (int, float))]
    span = max(e["ts"] + (e.get("dur") or 0) for e in timed) - min(e["ts"] for e in timed)
    id_stride = 1 + max(
        [e["id"] for e in events if isinstance(e.get("id"), int)]
        + [
            v
            for e in events
            for k, v in (e.get("args") or {}).items()
            if k in ID_ARGS and isinstance(v, int)
        ]
        + [0]
    )
    step_numbers = [int(m[1]) for e in events if (m := STEP.match(str(e.get("name", ""))))]
    step_stride = (max(step_numbers) - min(step_numbers) + 1) if step_numbers else 0
    header = {k: v for k, v in data.items() if k != "traceEvents"}
    written = 0
    with out.open("wb") as f:
        f.write(orjson.dumps(header)[:-1] + b', "traceEvents": [\n')
        k = 0
        while k < copies or (target_bytes and (k == 0 or f.tell() * (1 + 0.5 / k) < target_bytes)):
            for e in events:
                if k and e.get("ph") == "M":
                    continue  # process/thread names once
                f.write(b",\n" if written else b"")
                f.write(
                    orjson.dumps(_shifted(e, k, span + GAP_US, id_stride, step_stride) if k else e)
                )
                written += 1
            k += 1
        f.write(b"\n]}\n")
    return written


def _shifted(e: dict[str, Any], k: int, dt: float, id_stride: int, step_stride: int) -> dict:
    e = dict(e)
    if isinstance(e.get("ts"), (int, float)):
        e["ts"] += k * dt
    if isinstance(e.get("id"), int):
        e["id"] += k * id_stride
    args = e.get("args")
    if isinstance(args, dict) and any(key in args for key in ID_ARGS):
        e["args"] = {
            key: v + k * id_stride if key in ID_ARGS and isinstance(v, int) else v
            for key, v in args.items()
        }
    m = STEP.match(str(e.get("name", "")))
    if m:
        e["name"] = f"ProfilerStep#{int(m[1]) + k * step_stride}"
    return e


def _gzipped(path: Path) -> bool:
    with path.open("rb") as f:
        return f.read(2) == b"\x1f\x8b"


# Forks the measured command from a small fresh interpreter and prints its peak RSS: a
# child forked straight from this (large) process would report this process's RSS as its
# own peak, since Linux carries the high-water mark across fork and exec.
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


def readers(path: Path, out: Path, hta_python: str | None) -> dict[str, list[str] | None]:
    py = sys.executable
    load = "import sys, {0}; {0}.{1}(open(sys.argv[1], 'rb'){2})"
    return {
        "perfkit report": [py, "-m", "perfkit", "report", str(path), "-f", "json", "-o", str(out)],
        "json.load": [py, "-c", load.format("json", "load", ""), str(path)],
        "orjson.loads": [py, "-c", load.format("orjson", "loads", ".read()"), str(path)],
        "HTA": [
            hta_python,
            "-c",
            "import sys; from hta.trace_analysis import TraceAnalysis; "
            "TraceAnalysis(trace_dir=sys.argv[1])",
            str(path.parent),
        ]
        if hta_python
        else None,
    }


def find_hta(given: str | None) -> str | None:
    for python in [given, sys.executable, str(REPO / ".venv-hta" / "bin" / "python")]:
        if python and Path(python).exists():
            probe = subprocess.run([python, "-c", "import hta"], capture_output=True)
            if probe.returncode == 0:
                return python
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="50,200,1000", help="target sizes in MB")
    parser.add_argument("--source", type=Path, default=SOURCE)
    parser.add_argument("--hta-python", help="a Python interpreter with HTA installed")
    parser.add_argument("--timeout", type=float, default=900, help="per reader, seconds")
    args = parser.parse_args()
    if not args.source.is_file():
        sys.exit(f"{args.source}: no such trace")
    hta = find_hta(args.hta_python)
    results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    machine = f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}"
    base = len(gzip.decompress(args.source.read_bytes()))
    print(f"source: {args.source.name} ({base / 1e6:.0f} MB uncompressed)")
    print(f"HTA: {hta or 'not installed (pass --hta-python)'}")
    columns = list(readers(Path("x"), Path("y"), hta))
    print(f"{'size':>8}{'events':>11}" + "".join(f"{c:>22}" for c in columns))
    with tempfile.TemporaryDirectory() as tmp:
        for target in (int(s) for s in args.sizes.split(",")):
            folder = Path(tmp) / f"{target}mb"
            folder.mkdir()
            path = folder / "big.pt.trace.json"
            events = replicate(args.source, path, target_bytes=int(target * 1e6))
            row: dict[str, Any] = {"mb": round(path.stat().st_size / 1e6), "events": events}
            for name, cmd in readers(path, Path(tmp) / "report.json", hta).items():
                row[name] = measure(cmd, args.timeout) if cmd else {"error": "not installed"}
            shutil.rmtree(folder)
            results[f"traces/{target}mb"] = {**row, "machine": machine, "source": args.source.name}
            cells = "".join(f"{_cell(row[c]):>22}" for c in columns)
            print(f"{row['mb']:>6}MB{events:>11,}{cells}", flush=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(f"written to {RESULTS}")


def _cell(r: dict[str, Any]) -> str:
    return r["error"] if "error" in r else f"{r['s']:.1f} s {r['rss_mib']:,} MiB"


if __name__ == "__main__":
    main()
