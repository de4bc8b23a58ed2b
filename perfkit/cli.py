"""The ``perfkit`` command line.

Subcommands load lazily, so ``perfkit --help`` does not import torch. Exit codes:
0 success, 1 the profiled script failed (its own exit code when it called ``sys.exit``),
2 bad usage or unreadable input — always one line on stderr, never a traceback.
"""

from __future__ import annotations

import importlib
import os
import sys
from typing import Any

import click

from perfkit._version import __version__
from perfkit.errors import InputError
from perfkit.escape import terminal_line

# name -> (module, attribute, one-line help shown by `perfkit --help`)
SUBCOMMANDS = {
    "run": ("perfkit.commands.run", "run", "Profile an unmodified training script."),
    "report": ("perfkit.commands.report", "report", "Report the bottlenecks in a run or trace."),
    "compare": (
        "perfkit.commands.compare",
        "compare",
        "Compare two runs: speedup and what changed.",
    ),
    "tensorboard": (
        "perfkit.commands.tensorboard",
        "tensorboard",
        "Open a run's traces and scalars in TensorBoard.",
    ),
    "rules": ("perfkit.commands.rules", "rules", "List the rule catalogue."),
    "explain": ("perfkit.commands.rules", "explain", "Explain one rule and its fix."),
    "reference": (
        "perfkit.commands.reference",
        "reference",
        "Run the reference training loop, clean or with anti-patterns injected.",
    ),
}


class LazyGroup(click.Group):
    """A group whose subcommands are imported only when they run."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(SUBCOMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in SUBCOMMANDS:
            return None
        module, attr, _ = SUBCOMMANDS[name]
        return getattr(importlib.import_module(module), attr)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, help_text) for name, (_, _, help_text) in SUBCOMMANDS.items()]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="perfkit")
def cli() -> None:
    """perfkit tells you why your PyTorch training loop is slow and what to change.

    \b
    Start with the demo:   perfkit reference --inject host-sync,graph-leak -o runs/demo
    Then read the report:  perfkit report runs/demo
    Profile your script:   perfkit run -o runs/exp1 train.py --epochs 1
    Or decorate a step:    from perfkit import profile_step; @profile_step
    """


def main(argv: list[str] | None = None) -> Any:
    """Entry point: click's parsing, with usage errors on one line and exit code 2."""
    try:
        code = cli.main(args=argv, prog_name="perfkit", standalone_mode=False)
    except click.UsageError as e:
        where = e.ctx.command_path if e.ctx is not None else "perfkit"
        click.echo(terminal_line(f"{where}: error: {e.format_message()}"), err=True)
        sys.exit(2)
    except InputError as e:
        click.echo(terminal_line(f"perfkit: error: {e}"), err=True)
        sys.exit(2)
    except click.ClickException as e:
        click.echo(terminal_line(f"perfkit: error: {e.format_message()}"), err=True)
        sys.exit(e.exit_code)
    except click.exceptions.Abort:
        click.echo("perfkit: interrupted", err=True)
        sys.exit(130)
    except Exception as e:  # a bug: exit 3, so that CI tells it from a finding (1)
        if os.environ.get("PERFKIT_DEBUG"):
            raise
        said = f"perfkit: internal error: {type(e).__name__}: {e}"
        click.echo(terminal_line(said), err=True)
        click.echo("perfkit: this is a bug; PERFKIT_DEBUG=1 shows the traceback", err=True)
        sys.exit(3)
    sys.exit(code if isinstance(code, int) else 0)
