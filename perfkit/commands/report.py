"""``perfkit report``: findings for a run, a trace, or a directory of them."""

from __future__ import annotations

import shutil
import sys
import tempfile
import webbrowser
from pathlib import Path

import click

from perfkit.commands import InputError, force_option, rule_options, split_keys
from perfkit.commands.output import write_output
from perfkit.config import load_config
from perfkit.progress import reading
from perfkit.report import FORMATS


def load_report(
    path: str,
    select: list[str],
    ignore: list[str],
    thresholds: dict[str, dict[str, float]] | None = None,
):
    """Read the input and analyze it; bad input raises a one-line InputError.
    ``thresholds``: the project's, checked (``Config.thresholds``)."""
    from perfkit.analysis.rankfiles import report_path
    from perfkit.rules import all_rules, chosen_rules

    chosen = chosen_rules(select, ignore)
    left_out = [r for r in all_rules() if r not in chosen]
    return report_path(path, chosen, unselected=left_out, thresholds=thresholds)


@click.command(short_help="Report the bottlenecks in a run or trace.")
@click.argument("path", type=click.Path())
@click.option(
    "-f",
    "--format",
    "fmt",
    type=click.Choice(FORMATS),
    help="Output format (default: from -o's extension, else terminal); github: workflow "
    "annotations, sarif: for code scanning.",
)
@click.option(
    "-o", "--output", type=click.Path(dir_okay=False), help="Write to FILE ('-': standard output)."
)
@force_option
@click.option(
    "--fail-on",
    type=click.Choice(["info", "warning", "error"]),
    help="Exit 1 when a finding reaches this severity (for CI).",
)
@rule_options
@click.option("-v", "--verbose", is_flag=True, help="List every rule not checked, one a line.")
@click.option("--open", "open_page", is_flag=True, help="Open the HTML report in the browser.")
@click.option(
    "--max-read",
    type=click.FloatRange(min=0, min_open=True),
    metavar="GIB",
    help="Largest file read whole, after gunzip (default 1); a gzipped trace may also "
    "inflate to 100x its size.",
)
def report(path, fmt, output, force, fail_on, select, ignore, verbose, open_page, max_read) -> int:
    """Analyze PATH and name what slows the training loop, with the fix and its saving.

    PATH is a run directory or run.json written by perfkit, a Kineto trace
    (*.pt.trace.json or .json.gz, from tensorboard_trace_handler or
    export_chrome_trace, recorded on any machine), or a directory of traces.

    Defaults for --select, --ignore and --fail-on come from [tool.perfkit] in the
    nearest pyproject.toml, as ruff's do; the command line wins. Rules' thresholds are
    set there too ([tool.perfkit.thresholds]; `perfkit explain RULE` lists a rule's).

    \b
    Exit codes: 0 done, 1 a finding reached --fail-on, 2 bad input, 3 a bug in perfkit.
    \b
    Example:  perfkit report runs/exp1 -o report.html --fail-on error
    """
    from perfkit import jsonio
    from perfkit.findings import Severity
    from perfkit.report import for_path, render

    config = load_config()
    select = split_keys(select) or list(config.select)
    ignore = split_keys(ignore) or list(config.ignore)
    fail_on = fail_on or config.fail_on
    if max_read is not None:
        jsonio.MAX_WHOLE_READ_BYTES = int(max_read * 2**30)
    if fmt is None:
        chosen = for_path(output) if output else None
        fmt = "html" if open_page and chosen is None else chosen.name if chosen else "terminal"
    if open_page and fmt != "html":
        raise InputError(f"--open shows the HTML report, not {fmt}: drop -f or use -f html")
    if open_page and output in (None, "-"):
        output = str(Path(tempfile.mkdtemp(prefix="perfkit-")) / "report.html")
    with reading(sys.stderr.isatty()):
        the_report = load_report(path, select, ignore, config.thresholds)
    tty = fmt == "terminal" and output in (None, "-") and sys.stdout.isatty()
    width = shutil.get_terminal_size().columns if tty else 100
    text = render(the_report, fmt, color=tty, width=width, verbose=verbose)
    write_output(text, output, inputs=[path], force=force)
    if open_page and output is not None:
        webbrowser.open(Path(output).resolve().as_uri())
    worst = the_report.worst()
    if fail_on and worst is not None and worst >= Severity.parse(fail_on):
        return 1
    return 0
