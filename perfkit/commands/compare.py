"""``perfkit compare``: speedup and what changed between two runs or traces."""

from __future__ import annotations

import click

from perfkit.commands import force_option
from perfkit.commands.output import write_output


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
@force_option
def compare(base, new, fmt, output, force) -> int:
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
    from perfkit.analysis.inputs import load_inputs
    from perfkit.analysis.ranks import representatives
    from perfkit.escape import json_text
    from perfkit.report.compare import render

    before, after = representatives(load_inputs(base)), representatives(load_inputs(new))
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
        text = json_text(data)
    else:
        parts = []
        for key, result in results.items():
            title = f"{key}\n" if key and fmt == "terminal" else (f"## {key}\n\n" if key else "")
            parts.append(title + render(result, fmt))
        text = "\n".join(parts)
    write_output(text, output, inputs=[base, new], force=force)
    return 0
