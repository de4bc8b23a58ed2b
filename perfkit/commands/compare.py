"""``perfkit compare``: speedup and what changed between two runs or traces."""

from __future__ import annotations

import json
import statistics

import click

from perfkit.commands import InputError
from perfkit.commands.report import write_output


def _units(path: str) -> list:
    from perfkit.analysis.inputs import InputError as BadInput
    from perfkit.analysis.inputs import load_inputs

    try:
        return load_inputs(path)
    except BadInput as e:
        raise InputError(str(e)) from None


def _views(units: list) -> dict[str, object]:
    """Which unit stands for the input: the run itself, or for a job its slowest and median rank."""
    timed = sorted(
        (u for u in units if u.rank is not None and u.median_step_ms is not None),
        key=lambda u: u.median_step_ms,
    )
    if len(timed) >= 2:
        from perfkit.rules.pk601_rank_straggler import MIN_EXCESS_SHARE

        # Ranks in lockstep have near-equal steps: among those within 10% of the longest (the
        # straggler threshold of PK601), the one with the most data wait (its own work, not
        # waiting for others) is the slowest.
        longest = timed[-1].median_step_ms
        tied = [u for u in timed if longest - u.median_step_ms <= MIN_EXCESS_SHARE * longest]
        worst = max(tied, key=_wait)
        others = [u for u in timed if u is not worst]
        return {"slowest rank": worst, "median rank": others[len(others) // 2]}
    lead = next((u for u in units if u.run is not None), units[0])
    return {"": lead}


def _wait(unit) -> float:
    from perfkit.analysis.ranks import phase_series

    waits = phase_series(unit).get("data_wait_ms")
    return statistics.median(waits) if waits else 0.0


@click.command(short_help="Compare two runs: speedup and what changed.")
@click.argument("base", type=click.Path())
@click.argument("new", type=click.Path())
@click.option(
    "-f",
    "--format",
    "fmt",
    type=click.Choice(["terminal", "markdown", "json"]),
    default="terminal",
    show_default=True,
)
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="Write to FILE.")
def compare(base, new, fmt, output) -> int:
    """Compare BASE and NEW (run directories, run files or traces).

    Prints the speedup of the median step (base / new), per-phase deltas (data wait,
    compute, syncs, transfers, memory) and which findings were fixed or are new. For jobs
    of several ranks, the slowest ranks are compared, then the median ranks.

    \b
    Example:  perfkit compare runs/before runs/after
    """
    from perfkit.analysis.compare import compare as compare_runs
    from perfkit.analysis.compare import comparison_to_json
    from perfkit.analysis.engine import analyze
    from perfkit.report.compare import render

    before, after = _views(_units(base)), _views(_units(new))
    keys = [k for k in before if k in after] or [""]
    results = {}
    for key in keys:
        b, n = (
            before.get(key, next(iter(before.values()))),
            after.get(key, next(iter(after.values()))),
        )
        results[key] = compare_runs((b, analyze([b])), (n, analyze([n])))
    if fmt == "json":
        data = (
            {k.replace(" ", "_"): comparison_to_json(c) for k, c in results.items()}
            if keys != [""]
            else comparison_to_json(results[""])
        )
        text = json.dumps(data, indent=2) + "\n"
    else:
        parts = []
        for key, result in results.items():
            title = f"{key}\n" if key and fmt == "terminal" else (f"## {key}\n\n" if key else "")
            parts.append(title + render(result, fmt))
        text = "\n".join(parts)
    write_output(text, output)
    return 0
