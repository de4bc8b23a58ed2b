"""Report speed and peak memory on big traces built from a real one, and where the time goes.

A real trace's events are replicated (ids, correlations, flow ids and ProfilerStep
numbers shifted, timestamps moved past the previous copy, so every copy is new steps of
the same run) into ~50 MB, ~200 MB and ~1 GB uncompressed traces, each also gzipped. Each
reader then runs in a fresh process, timed end to end, its peak RSS read from wait4:

  perfkit report FILE -f json   start-up, streaming read, analysis and rendering
  perfkit report FILE.gz        the same, gunzipped as it is read
  json.load                     the stdlib parse alone, for scale
  orjson.loads                  a fast whole-file parse into dicts, for scale
  msgspec.json.decode           another, for scale
  msgspec typed                 the whole file decoded into perfkit's event structs at once
  HTA                           Holistic Trace Analysis' TraceAnalysis(trace_dir=...), where
                                it is installed (--hta-python: an interpreter that has it)

Then, in a fresh process per file, perfkit's read is taken apart (seconds of each stage,
one after another on one core): read, gunzip, cut (finding the events' ends in the
text), decode, columns (folding events into columns), summary (per-step figures and the
timeline), and, for scale, orjson parsing the same pieces. What the end-to-end time has
beyond these is start-up, analysis and rendering.

    python bench/traces.py [--sizes 50,200,1000] [--repeat N] [--hta-python PATH] [--timeout S]
"""

from __future__ import annotations

import argparse
import gzip
import json
import math
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
from _measure import RESULTS, measure

REPO = Path(__file__).resolve().parent.parent
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


def readers(path: Path, gz: Path, out: Path, hta_python: str | None) -> dict[str, list[str] | None]:
    py = sys.executable
    load = "import sys, {0}; {0}.{1}(open(sys.argv[1], 'rb'){2})"
    report = [py, "-m", "perfkit", "report", "-f", "json", "-o", str(out)]
    typed = (
        "import sys, msgspec; from perfkit.trace.events import ANY_EVENT\n"
        "class Trace(msgspec.Struct):\n    traceEvents: list[ANY_EVENT]\n"
        "msgspec.json.decode(open(sys.argv[1], 'rb').read(), type=Trace)"
    )
    return {
        "perfkit report": [*report, str(path)],
        "perfkit report (.gz)": [*report, str(gz)],
        "json.load": [py, "-c", load.format("json", "load", ""), str(path)],
        "orjson.loads": [py, "-c", load.format("orjson", "loads", ".read()"), str(path)],
        "msgspec.json.decode": [
            py,
            "-c",
            load.format("msgspec", "json.decode", ".read()"),
            str(path),
        ],
        "msgspec typed": [py, "-c", typed, str(path)],
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


STAGES = ("read", "gunzip", "cut", "decode", "columns", "summary")
NOT_INSTALLED = {"error": "not installed"}


def profile(path: Path) -> dict[str, float]:
    """Seconds of each stage of perfkit's read of ``path``, one after another on one core,
    and orjson's parse of the same pieces for scale."""
    sys.path.insert(0, str(REPO))  # this checkout's perfkit, not one installed elsewhere
    from perfkit.trace import events, stream
    from perfkit.trace.summary import _Collector

    seconds = dict.fromkeys((*STAGES, "orjson"), 0.0)
    for _ in range(2):  # the second from memory (the page cache), as the readers read it
        t0 = time.perf_counter()
        with path.open("rb") as f:
            while f.read(stream.CHUNK_BYTES):
                pass
        raw = time.perf_counter() - t0
    chunks, decode = stream.TraceStream._chunks, events.decode

    def timed_chunks(self: Any, f: Any) -> Iterator[bytes]:  # read, and gunzipped
        text = chunks(self, f)
        while True:
            t0 = time.perf_counter()
            chunk = next(text, None)
            seconds["read"] += time.perf_counter() - t0
            if chunk is None:
                return
            yield chunk

    def timed(text: Any) -> list[Any]:
        t0 = time.perf_counter()
        decoded = decode(text)
        seconds["decode"] += time.perf_counter() - t0
        return decoded

    def by_orjson(text: Any) -> list[Any]:
        t0 = time.perf_counter()
        orjson.loads(text)
        seconds["orjson"] += time.perf_counter() - t0
        return []

    stream.TraceStream._chunks = timed_chunks
    events.decode = timed  # what the stream calls for each piece
    trace, collector = stream.TraceStream(path), _Collector()
    t0 = time.perf_counter()
    for batch in trace.batches():
        t1 = time.perf_counter()
        collector.add(batch)
        seconds["columns"] += time.perf_counter() - t1
    read_whole = time.perf_counter() - t0
    seconds["cut"] = read_whole - sum(seconds[k] for k in ("read", "decode", "columns"))
    if _gzipped(path):  # reading the file alone took `raw`: the rest is inflating it
        seconds["gunzip"], seconds["read"] = seconds["read"] - raw, raw
    t0 = time.perf_counter()
    collector.finish(trace.header, str(path))
    seconds["summary"] = time.perf_counter() - t0
    stream.TraceStream._chunks, events.decode = chunks, by_orjson  # the same pieces again
    for _ in stream.TraceStream(path).batches():
        pass
    return {stage: round(s, 2) for stage, s in seconds.items()}


def profiled(path: Path, timeout: float) -> dict[str, Any]:
    """``profile`` in a fresh process, as the readers run."""
    try:
        proc = subprocess.run(
            [sys.executable, __file__, "--profile", str(path)],
            capture_output=True,
            text=True,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired:
        return {"error": f"over {timeout:.0f} s"}
    if proc.returncode:
        return {"error": proc.stderr.strip().splitlines()[-1][:80]}
    return json.loads(proc.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="50,200,1000", help="target sizes in MB")
    parser.add_argument("--source", type=Path, default=SOURCE)
    parser.add_argument("--hta-python", help="a Python interpreter with HTA installed")
    parser.add_argument("--timeout", type=float, default=900, help="per reader, seconds")
    parser.add_argument(
        "--repeat", type=int, default=1, help="runs of each, the fastest kept (a shared VM)"
    )
    parser.add_argument("--profile", type=Path, help=argparse.SUPPRESS)  # one file's stages
    args = parser.parse_args()
    if args.profile:
        print(json.dumps(profile(args.profile)))
        return
    if not args.source.is_file():
        sys.exit(f"{args.source}: no such trace")
    hta = find_hta(args.hta_python)
    results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    machine = f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}"
    base = len(gzip.decompress(args.source.read_bytes()))
    print(f"source: {args.source.name} ({base / 1e6:.0f} MB uncompressed)")
    print(f"HTA: {hta or 'not installed (pass --hta-python)'}")
    with tempfile.TemporaryDirectory() as tmp:
        for target in (int(s) for s in args.sizes.split(",")):
            folder = Path(tmp) / f"{target}mb"  # HTA reads every trace in it: this one only
            folder.mkdir()
            path = folder / "big.pt.trace.json"
            gz = Path(tmp) / f"{target}mb.pt.trace.json.gz"
            events = replicate(args.source, path, target_bytes=int(target * 1e6))
            with path.open("rb") as plain, gzip.open(gz, "wb", compresslevel=6) as packed:
                shutil.copyfileobj(plain, packed, 1 << 20)
            mb = path.stat().st_size / 1e6
            row: dict[str, Any] = {
                "mb": round(mb),
                "gz_mb": round(gz.stat().st_size / 1e6),
                "events": events,
            }
            print(f"\n{row['mb']} MB, {events:,} events (gzipped: {row['gz_mb']} MB)", flush=True)
            for name, cmd in readers(path, gz, Path(tmp) / "report.json", hta).items():
                runs = [measure(cmd, args.timeout) for _ in range(args.repeat)] if cmd else []
                r = min(runs, key=lambda r: r.get("s", math.inf), default=NOT_INSTALLED)
                if "s" in r:
                    r["mb_per_s"] = round(mb / r["s"])
                row[name] = r
                print(f"  {name:<22}{_cell(r)}", flush=True)
            row["profile"] = {
                kind: min(
                    (profiled(p, args.timeout) for _ in range(args.repeat)),
                    key=lambda stages: sum(stages.get(k, math.inf) for k in STAGES),
                )
                for kind, p in (("json", path), ("json.gz", gz))
            }
            for kind, stages in row["profile"].items():
                print(f"  where the time goes, .{kind}: {_stages(stages)}", flush=True)
            shutil.rmtree(folder)
            gz.unlink()
            results[f"traces/{target}mb"] = {**row, "machine": machine, "source": args.source.name}
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(f"written to {RESULTS}")


def _cell(r: dict[str, Any]) -> str:
    if "error" in r:
        return r["error"]
    return f"{r['s']:>6.1f} s {r['rss_mib']:>6,} MiB {r['mb_per_s']:>5} MB/s"


def _stages(stages: dict[str, Any]) -> str:
    if "error" in stages:
        return stages["error"]
    timed = " + ".join(f"{k} {stages[k]:.2f}" for k in STAGES if stages[k])
    return f"{timed} s; orjson would parse the same pieces in {stages['orjson']:.2f} s"


if __name__ == "__main__":
    main()
