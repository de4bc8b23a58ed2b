"""Print bench/results.json as the Markdown tables the README shows.

python bench/tables.py
"""

from __future__ import annotations

import json
from pathlib import Path

RESULTS = Path(__file__).with_name("results.json")
PRESETS = {"iris": "iris (4→10→3 MLP)", "cnn": "cnn (small CNN, batch 64)"}
VARIANTS = ("perfkit", "perfkit window", "torch.profiler", "torch.profiler shapes+stack")
READERS = ("perfkit report", "json.load", "orjson.loads", "HTA")


def overhead(results: dict) -> list[str]:
    rows = []
    for preset, label in PRESETS.items():
        r = results.get(f"overhead/{preset}")
        if r:
            rows.append(
                f"| {label} | {r['plain_ms']:.3f} ms | {r['profiled_ms']:.3f} ms "
                f"| {r['ratio']:.3f} | {r['fixed_cost_us']:.0f} µs |"
            )
    return rows


def profilers(results: dict) -> list[str]:
    rows = ["| preset | plain step | " + " | ".join(VARIANTS) + " | window start + export |"]
    rows.append("|---" * (len(VARIANTS) + 3) + "|")
    for preset in PRESETS:
        r = results.get(f"profilers/{preset}")
        if r:
            cells = " | ".join(f"{r[v]['ratio']:.2f}× ({r[v]['ms']:.2f} ms)" for v in VARIANTS)
            export = r["perfkit window"]["start_and_export_ms"]
            rows.append(f"| {preset} | {r['plain']['ms']:.2f} ms | {cells} | {export:.0f} ms |")
    return rows


def traces(results: dict) -> list[str]:
    rows = ["| trace | events | " + " | ".join(READERS) + " |", "|---" * (len(READERS) + 2) + "|"]
    sizes = [v for k, v in results.items() if k.startswith("traces/")]
    for r in sorted(sizes, key=lambda r: r["mb"]):
        cells = " | ".join(_reader(r.get(name, {"error": "not run"})) for name in READERS)
        rows.append(f"| {r['mb']} MB | {r['events']:,} | {cells} |")
    return rows


def _reader(r: dict) -> str:
    return r["error"] if "error" in r else f"{r['s']:.1f} s, {r['rss_mib']:,} MiB"


def main() -> None:
    results = json.loads(RESULTS.read_text())
    for title, rows in (("overhead", overhead), ("profilers", profilers), ("traces", traces)):
        print(f"<!-- {title} -->")
        print("\n".join(rows(results)), end="\n\n")


if __name__ == "__main__":
    main()
