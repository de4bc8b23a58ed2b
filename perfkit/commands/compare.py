"""``perfkit compare``: speedup and what changed between two runs or traces."""

from __future__ import annotations

import sys

import click

from perfkit.commands import force_option, rule_options, split_keys
from perfkit.commands.output import write_output


@click.command(short_help="Compare two runs: speedup and what changed.")
@click.argument("base", type=click.Path())
@click.argument("new", type=click.Path())
@click.option(
    "-f",
    "--format",
    "fmt",
    type=click.Choice(["terminal", "markdown", "json", "html"]),
    help="Output format (default: from -o's extension, else terminal).",
)
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="Write to FILE.")
@force_option
@click.option(
    "--fail-on-regression",
    type=click.FloatRange(min=0),
    metavar="PCT",
    help="Exit 1 when the median step got slower by more than PCT percent, beyond noise.",
)
@rule_options
def compare(base, new, fmt, output, force, fail_on_regression, select, ignore) -> int:
    """Compare BASE and NEW (run directories, run files or traces).

    Prints the speedup of the median step (base / new) and its change with a 95%
    bootstrap interval from the per-step times (beyond noise when the interval leaves out
    zero), what the step is made of in each (data wait + rest of the step = median step),
    counts, transfers and memory, which findings were fixed or are new, and a warning
    when the inputs differ in script, preset, device, world size, DataLoaders or
    optimizers. For jobs of several ranks, the slowest ranks are compared, then the
    median ranks.

    --fail-on-regression PCT: exit 1 when the median step of the slowest ranks got slower
    by more than PCT percent and the interval's lower end is above zero too; an input of
    one step has no interval, and the change alone decides.

    The findings compared are those `perfkit report` would show: --select and --ignore
    default to [tool.perfkit] in the nearest pyproject.toml, and its thresholds apply.

    \b
    Exit codes: 0 done, 1 a regression beyond --fail-on-regression, 2 bad input.
    \b
    Example:  perfkit compare runs/before runs/after -o compare.html --fail-on-regression 5
    """
    from perfkit.analysis.compare import compare as compare_inputs
    from perfkit.config import load_config
    from perfkit.escape import terminal_line
    from perfkit.progress import reading
    from perfkit.report import for_path
    from perfkit.report.compare import WARNING, render, step_text

    config = load_config()
    select = split_keys(select) or list(config.select)
    ignore = split_keys(ignore) or list(config.ignore)
    with reading(sys.stderr.isatty()):
        result = compare_inputs(base, new, select, ignore, config.thresholds)
    if fmt is None:
        chosen = for_path(output) if output else None
        fmt = chosen.name if chosen else "terminal"
    for line in (WARNING, *result.differences) if result.differences else ():
        click.echo(terminal_line(f"perfkit: warning: {line}"), err=True)
    write_output(render(result, fmt), output, inputs=[base, new], force=force)
    if fail_on_regression is not None and result.regressed(fail_on_regression):
        why = f"{step_text(result.headline.step)}: more than {fail_on_regression:g}%"
        click.echo(terminal_line(f"perfkit: regression: {why}"), err=True)
        return 1
    return 0
