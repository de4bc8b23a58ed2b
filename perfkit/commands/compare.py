"""``perfkit compare``: speedup and what changed between two runs or traces."""

from __future__ import annotations

import click

from perfkit.commands import InputError
from perfkit.commands.report import write_output


def _analyzed(path: str):
    from perfkit.analysis.engine import analyze
    from perfkit.analysis.inputs import InputError as BadInput
    from perfkit.analysis.inputs import load_inputs

    try:
        units = load_inputs(path)
    except BadInput as e:
        raise InputError(str(e)) from None
    lead = next((u for u in units if u.run is not None), units[0])
    return lead, analyze([lead])


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
    compute, syncs, transfers, memory) and which findings were fixed or are new.

    \b
    Example:  perfkit compare runs/before runs/after
    """
    from perfkit.analysis.compare import compare as compare_runs
    from perfkit.report.compare import render

    result = compare_runs(_analyzed(base), _analyzed(new))
    write_output(render(result, fmt), output)
    return 0
