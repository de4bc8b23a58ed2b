"""What a report of a job of many ranks costs: from the ranks' summaries, and from their run
files alone.

From one real rank file of a long run (and its trace), writes a job of N ranks as capture
would have: each rank's run file is the template's (schema 2: the steps kept whole and the
blocks of folded ones), renumbered (8 ranks a node), with its own ±2% jitter on every step
and block and one straggler rank that waits 20% of a step longer for data. The ranks that
`window_ranks="auto"` picks (rank 0, each node's local rank 0, 4 sampled) list a copy of
the template's trace (a hard link); the others mark the window's steps `peer`. Then every
rank's summary is written by perfkit's own code (``summarize_file``, what a rank runs at
close; in a pool here, its cost per rank is reported). Finally ``perfkit report DIR -f
json`` is timed end to end with its peak RSS: with the summaries, then without them (the
rank files reduced in a pool of worker processes; RSS then also summed over the workers).
Columns: the job's files, the median seconds a rank took to write its summary ("at close":
without / with a trace), and each report's seconds and peak RSS.

    python bench/ranks.py RUN_FILE [--ranks 64,1024] [--keep DIR] [--no-raw]

With --keep, a job already written in DIR is reused (only the reports run again).

RUN_FILE: e.g. rank 0 of ``torchrun --standalone --nproc_per_node 2 -m perfkit reference
--ddp --preset cnn --steps 10000 -o runs/ddp10k``. Targets (issue 14): 1,024 ranks of
10,000 steps in <= 10 s and <= 1 GB.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import orjson
from _measure import RESULTS, measure_tree

from perfkit import sketch
from perfkit.analysis.rankfiles import summarize_file
from perfkit.capture.window_ranks import WindowRanks
from perfkit.ranksummary import summary_path, write_summary

PER_NODE = 8
STRAGGLER_SHARE = 0.2  # of the median step, waited for data on the straggler rank
SPREADS = ("wall_ms", "outside_ms", "data_wait_ms", "period_ms")


def shifted(spread: dict[str, Any], scale: float, add: float) -> dict[str, Any]:
    """A block's spread of values v, as the spread of ``v * scale + add``: exact sums, min
    and max; each bucket of the sketch moved with its representative value."""
    n = spread.get("zeros", 0) + sum(spread.get("counts", ()))
    counts: dict[int, int] = {}
    zeros = 0
    moved = [(spread.get("zeros", 0), 0.0)]
    pairs = zip(spread["buckets"], spread["counts"], strict=True)
    moved += [(c, sketch.representative(b)) for b, c in pairs]
    for count, value in moved:
        b = sketch.bucket(value * scale + add)
        if b is None:
            zeros += count
        elif count:
            counts[b] = counts.get(b, 0) + count
    return {
        "sum": round(spread["sum"] * scale + add * n, 4),
        "min": round(spread["min"] * scale + add, 4),
        "max": round(spread["max"] * scale + add, 4),
        "zeros": zeros,
        "buckets": sorted(counts),
        "counts": [counts[b] for b in sorted(counts)],
    }


def rank_run(template: dict, rank: int, world: int, jitter: float, extra_ms: float) -> dict:
    """The template as rank ``rank``'s run file: its steps jittered, ``extra_ms`` more data
    wait a step (the straggler), its window kept or left to the other ranks."""
    run = dict(template)
    env = dict(template["env"])
    env.update(host=f"node{rank // PER_NODE:04d}", pid=10_000 + rank)
    env["distributed"] = {
        **template["env"]["distributed"],
        "rank": rank,
        "world_size": world,
        "local_rank": rank % PER_NODE,
        "local_world_size": PER_NODE,
    }
    run["env"] = env
    why_not = WindowRanks("auto").why_not(rank, rank % PER_NODE, world)
    run["capture"] = {**template["capture"], "window_ranks": "auto", "window_off": why_not}
    steps = []
    for s in template["steps"]:
        step = {
            **s,
            "wall_ms": round(s["wall_ms"] * jitter, 4),
            "outside_ms": round(s["outside_ms"] * jitter + extra_ms, 4),
            "data_wait_ms": round(s["data_wait_ms"] * jitter + extra_ms, 4),
        }
        if why_not and s.get("phase") in ("warmup", "active"):
            step["phase"] = "peer"
        steps.append(step)
    run["steps"] = steps
    run["step_blocks"] = [
        {
            **b,
            "wall_ms": shifted(b["wall_ms"], jitter, 0.0),
            "outside_ms": shifted(b["outside_ms"], jitter, extra_ms),
            "data_wait_ms": shifted(b["data_wait_ms"], jitter, extra_ms),
            "period_ms": shifted(b["period_ms"], jitter, extra_ms),
        }
        for b in template.get("step_blocks", [])
    ]
    return run


def synthesize(template_file: Path, ranks: int, out: Path) -> dict[str, Any]:
    """Write the job's run files and traces into ``out``; its sizes and who profiles."""
    template = orjson.loads(template_file.read_bytes())
    trace = template_file.parent / template["traces"][0]
    period = statistics.median(s["wall_ms"] + s["outside_ms"] for s in template["steps"][1:])
    straggler = ranks * 2 // 3
    rng = random.Random(0)
    out.mkdir(parents=True)
    traced = []
    for rank in range(ranks):
        extra = STRAGGLER_SHARE * period if rank == straggler else 0.0
        run = rank_run(template, rank, ranks, 1 + rng.uniform(-0.02, 0.02), extra)
        if run["capture"]["window_off"]:
            run["traces"] = []
        else:
            name = f"{run['env']['host']}_{run['env']['pid']}.{rank}.pt.trace.json.gz"
            os.link(trace, out / name)
            run["traces"] = [name]
            traced.append(rank)
        (out / f"run.rank{rank}.json").write_bytes(orjson.dumps(run))
    run_bytes = sum(f.stat().st_size for f in out.glob("run.rank*.json"))
    return {
        "ranks": ranks,
        "steps": sum(b["count"] for b in template.get("step_blocks", [])) + len(template["steps"]),
        "run_files_mib": round(run_bytes / 2**20, 1),
        "traced_ranks": len(traced),
        "straggler": straggler,
    }


def _summarize(path: Path) -> tuple[float, bool]:
    """What a rank does at close; what it cost, and whether it had a trace to read."""
    summary = summarize_file(path)
    write_summary(path, summary)
    return summary.cost_s, bool(summary.traces)


def write_summaries(folder: Path) -> dict[str, Any]:
    """Every rank's summary, by the code a rank runs at close (in a pool: it is the job's
    work, spread over its ranks, done here on two cores)."""
    files = sorted(folder.glob("run.rank*.json"))
    t0 = time.perf_counter()
    with ProcessPoolExecutor(len(os.sched_getaffinity(0))) as pool:
        costs = list(pool.map(_summarize, files, chunksize=8))
    traced = [cost for cost, with_trace in costs if with_trace]
    plain = [cost for cost, with_trace in costs if not with_trace]
    sizes = [summary_path(f).stat().st_size for f in files]
    return {
        "summaries_s": round(time.perf_counter() - t0, 1),
        "summary_kib": round(statistics.median(sizes) / 1024, 1),
        "summaries_mib": round(sum(sizes) / 2**20, 1),
        "close_cost_s": round(statistics.median(plain), 2) if plain else None,
        "close_cost_traced_s": round(statistics.median(traced), 2) if traced else None,
    }


def report(folder: Path, timeout: float) -> dict[str, Any]:
    cmd = [sys.executable, "-m", "perfkit", "report", str(folder), "-f", "json"]
    out = folder.parent / f"{folder.name}.report.json"
    figures = measure_tree([*cmd, "-o", str(out), "--force"], timeout)
    if out.exists():
        job = json.loads(out.read_text())["summary"].get("job") or {}
        figures["read"] = job.get("read")
        findings = json.loads(out.read_text())["findings"]
        figures["findings"] = [f"{f['code']} {f['rule']}" for f in findings]
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run_file", type=Path)
    parser.add_argument("--ranks", default="64,1024")
    parser.add_argument("--keep", type=Path, help="build the jobs here and leave them")
    parser.add_argument("--no-raw", action="store_true", help="time the summaries only")
    parser.add_argument("--timeout", type=float, default=1800)
    args = parser.parse_args()
    root = args.keep or Path(tempfile.mkdtemp(prefix="perfkit-ranks-"))
    results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    print(
        f"{'ranks':>6} {'steps':>7} {'run files':>10} {'summaries':>10} "
        f"{'at close':>9} {'report (summaries)':>20} {'report (rank files, pool)':>28}"
    )
    try:
        for n in (int(x) for x in args.ranks.split(",")):
            folder = root / f"ranks-{n}"
            if not (folder / f"run.rank{n - 1}.json").exists():
                shutil.rmtree(folder, ignore_errors=True)
                print(f"writing {n} ranks into {folder} ...", file=sys.stderr)
                figures = synthesize(args.run_file, n, folder)
                figures.update(write_summaries(folder))
                (folder.parent / f"{folder.name}.json").write_text(json.dumps(figures))
            figures = json.loads((folder.parent / f"{folder.name}.json").read_text())
            figures["report"] = report(folder, args.timeout)
            if not args.no_raw:
                hidden = folder.parent / f"{folder.name}.summaries"
                hidden.mkdir(exist_ok=True)
                for f in folder.glob("summary.rank*.json"):
                    f.rename(hidden / f.name)
                try:
                    figures["report_raw"] = report(folder, args.timeout)
                finally:
                    for f in hidden.glob("summary.rank*.json"):
                        f.rename(folder / f.name)
            print(_row(figures))
            results[f"ranks/{n}"] = figures
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")


def _row(f: dict[str, Any]) -> str:
    def timed(r: dict[str, Any] | None) -> str:
        if not r:
            return "-"
        if "error" in r:
            return r["error"]
        tree = f", {r['tree_rss_mib']} all" if r["tree_rss_mib"] > r["rss_mib"] else ""
        return f"{r['s']:.1f} s, {r['rss_mib']} MiB{tree}"

    close = f"{f['close_cost_s']}/{f['close_cost_traced_s']} s"
    return (
        f"{f['ranks']:>6} {f['steps']:>7} {f['run_files_mib']:>7} MiB {f['summaries_mib']:>6} MiB "
        f"{close:>9} {timed(f.get('report')):>20} {timed(f.get('report_raw')):>28}"
    )


if __name__ == "__main__":
    main()
