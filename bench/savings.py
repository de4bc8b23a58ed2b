"""Are perfkit's savings right? Each estimate next to the speedup its fix really gives.

For every rule whose saving can be measured on a CPU, a pair of runs: the loop with the
anti-pattern and the same loop with the fix perfkit prescribes. Both are captured by
``perfkit run`` / ``perfkit reference`` (so both pay the same capture cost), alternated
``--rounds`` times; the measured saving is the difference of their median steps (the
report's step time), the estimate is the trigger's finding. Rules whose saving is stated
as a bound or as "not measurable" on a CPU (host-sync without a GPU trace, memory rules)
are not in the table.

    python bench/savings.py [--rounds 2] [--json bench/savings.json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SCRIPTS = REPO / "tests" / "scripts" / "realistic"


@dataclass(frozen=True)
class Pair:
    rule: str
    name: str
    trigger: tuple[str, ...]  # perfkit arguments after "run -o DIR" / "reference -o DIR"
    fixed: tuple[str, ...]
    fix: str


def _script(name: str, *args: str) -> tuple[str, ...]:
    return ("run", "--window", "off", str(SCRIPTS / f"{name}.py"), *args)


PAIRS = (
    Pair(
        "launch-bound",
        "reference iris",
        ("reference", "--window", "off", "--preset", "iris", "--inject", "launch-bound"),
        ("reference", "--window", "off", "--preset", "iris"),
        "the per-sample loss loop batched",
    ),
    Pair(
        "launch-bound",
        "many_small_modules",
        _script("many_small_modules"),
        _script("many_small_modules_clean"),
        "64 tiny layers as 2 wide ones",
    ),
    Pair(
        "launch-bound",
        "rnn_cell_loop",
        _script("rnn_cell_loop"),
        _script("rnn_cell_loop_clean"),
        "nn.LSTMCell loop as nn.LSTM",
    ),
    Pair(
        "data-starved",
        "slow_augment",
        _script("slow_augment", "0"),
        _script("slow_augment", "1"),
        "num_workers=0 -> 1 (2 cores)",
    ),
)


def capture(args: tuple[str, ...], out: Path) -> dict:
    """Run one capture and return its JSON report."""
    command, rest = args[0], args[1:]
    if command == "reference":
        cmd = [sys.executable, "-m", "perfkit", "reference", "-o", str(out), "--force", *rest]
    else:
        cmd = [sys.executable, "-m", "perfkit", "run", "-o", str(out), "--force", *rest]
    subprocess.run(cmd, check=True, capture_output=True, cwd=REPO)
    report = subprocess.run(
        [sys.executable, "-m", "perfkit", "report", str(out), "-f", "json"],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(report.stdout)


def measure(pair: Pair, rounds: int, tmp: Path) -> dict:
    steps: dict[str, list[float]] = {"trigger": [], "fixed": []}
    estimates: list[float] = []
    for r in range(rounds):
        for which, args in (("trigger", pair.trigger), ("fixed", pair.fixed)):
            report = capture(args, tmp / f"{pair.name}-{which}-{r}".replace(" ", "_"))
            steps[which].append(report["summary"]["median_step_ms"])
            if which == "trigger":
                found = [f for f in report["findings"] if f["rule"] == pair.rule]
                if found and found[0]["saving_ms"] is not None:
                    estimates.append(found[0]["saving_ms"])
    trigger, fixed = statistics.median(steps["trigger"]), statistics.median(steps["fixed"])
    measured = trigger - fixed
    estimate = statistics.median(estimates) if estimates else None
    return {
        "rule": pair.rule,
        "pair": pair.name,
        "fix": pair.fix,
        "step_ms": round(trigger, 3),
        "fixed_step_ms": round(fixed, 3),
        "measured_saving_ms": round(measured, 3),
        "estimated_saving_ms": round(estimate, 3) if estimate is not None else None,
        "ratio": round(estimate / measured, 2) if estimate and measured > 0 else None,
        "found": f"{len(estimates)}/{rounds}",
    }


def table(rows: list[dict]) -> str:
    lines = [
        "| rule | loop | fix | step → fixed (ms) | measured saving | estimate | ratio |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        est = f"{r['estimated_saving_ms']:.2f} ms" if r["estimated_saving_ms"] is not None else "—"
        ratio = f"{r['ratio']:.2f}" if r["ratio"] is not None else "—"
        lines.append(
            f"| {r['rule']} | {r['pair']} | {r['fix']} | {r['step_ms']:.2f} → "
            f"{r['fixed_step_ms']:.2f} | {r['measured_saving_ms']:.2f} ms | {est} | {ratio} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=2, help="alternations of each pair")
    parser.add_argument("--json", type=Path, help="also write the rows here")
    parser.add_argument("--only", help="a pair's name (e.g. slow_augment)")
    args = parser.parse_args()
    pairs = [p for p in PAIRS if args.only in (None, p.name)]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for i, pair in enumerate(pairs, 1):
            print(f"[{i}/{len(pairs)}] {pair.rule}: {pair.name}", file=sys.stderr)
            rows.append(measure(pair, args.rounds, Path(tmp)))
    print(table(rows))
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    main()
