"""What run files and reports cost as the number of ranks grows.

Takes one real rank file (from a 2-rank run), writes N synthetic copies of it (ranks
0..N-1, each with a little per-rank jitter so the job is not degenerate), then times
``perfkit report`` on the directory end to end and reads its peak RSS.

    python bench/ranks.py RUN_FILE [--ranks 8,64,256]
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def synthesize(template: dict, ranks: int, out: Path) -> int:
    rng = random.Random(0)
    total = 0
    for rank in range(ranks):
        run = json.loads(json.dumps(template))
        run["env"]["distributed"] = {"rank": rank, "world_size": ranks, "backend": "nccl"}
        jitter = 1 + rng.uniform(-0.02, 0.02)
        for step in run["steps"]:
            step["wall_ms"] = round(step["wall_ms"] * jitter, 4)
        run["traces"] = []
        path = out / f"run.rank{rank}.json"
        path.write_text(json.dumps(run, separators=(",", ":")))
        total += path.stat().st_size
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run_file")
    parser.add_argument("--ranks", default="8,64,256")
    args = parser.parse_args()
    template = json.loads(Path(args.run_file).read_text())
    size = Path(args.run_file).stat().st_size
    print(
        f"template: {args.run_file}: {size / 1024:.0f} KiB for {len(template['steps'])} steps "
        f"({size / max(len(template['steps']), 1):.0f} B/step)"
    )
    print(f"{'ranks':>6}{'files MiB':>11}{'report s':>10}{'peak RSS MiB':>14}")
    for n in (int(x) for x in args.ranks.split(",")):
        with tempfile.TemporaryDirectory() as tmp:
            total = synthesize(template, n, Path(tmp))
            t0 = time.perf_counter()
            subprocess.run(
                [sys.executable, "-m", "perfkit", "report", tmp, "-f", "json"],
                check=True,
                stdout=subprocess.DEVNULL,
            )
            elapsed = time.perf_counter() - t0
            rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
            print(f"{n:>6}{total / 2**20:>11.1f}{elapsed:>10.2f}{rss:>14.0f}")


if __name__ == "__main__":
    main()
