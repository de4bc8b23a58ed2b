"""One module per ``perfkit`` subcommand, imported only when that subcommand runs."""

from __future__ import annotations

import click

from perfkit.errors import InputError

__all__ = [
    "InputError",
    "capture_options",
    "force_option",
    "rule_options",
    "window_option",
]


def window_option(ctx: click.Context, param: click.Parameter, value: str | None) -> tuple | None:
    """Parse ``--window WAIT,WARMUP,ACTIVE[,REPEAT]``; ``off`` disables the profiler window."""
    if value is None:
        return (5, 1, 3)
    if value.lower() in ("off", "none", "0"):
        return None
    parts = value.split(",")
    if len(parts) not in (3, 4) or not all(p.strip().isdecimal() for p in parts):
        raise click.BadParameter("expected WAIT,WARMUP,ACTIVE[,REPEAT] (e.g. 5,1,3) or 'off'")
    numbers = tuple(int(p) for p in parts)
    if numbers[2] < 1:
        raise click.BadParameter("ACTIVE must be at least 1")
    return numbers


def window_ranks_option(ctx: click.Context, param: click.Parameter, value: str) -> str:
    """Check ``--window-ranks`` here, before any training starts."""
    from perfkit.capture.window_ranks import WindowRanks

    try:
        return str(WindowRanks.parse(value))
    except ValueError:
        raise click.BadParameter("expected auto, all, or ranks such as 0,5") from None


def capture_options(f):
    """The Session options shared by `run` and `reference`."""
    for decorator in reversed(
        [
            click.option(
                "-o",
                "--out",
                "out",
                type=click.Path(file_okay=False),
                help="Run directory (default: perfkit-runs/<name>-<time>).",
            ),
            click.option(
                "--window",
                metavar="WAIT,WARMUP,ACTIVE[,REPEAT]",
                callback=window_option,
                help="Profiler window in steps (default 5,1,3; REPEAT 0: every cycle) or 'off'.",
            ),
            click.option(
                "--window-ranks",
                default="auto",
                show_default=True,
                metavar="auto|all|RANKS",
                callback=window_ranks_option,
                help="Under torchrun, the ranks that record the window: auto (rank 0, each "
                "node's local rank 0, 4 sampled), all, or a list (0,5).",
            ),
            click.option(
                "--sample-hz",
                type=click.FloatRange(min=0),
                default=10.0,
                show_default=True,
                help="Background GPU/host sampling rate; 0 disables.",
            ),
            click.option(
                "--force",
                is_flag=True,
                help="Overwrite the run in --out instead of writing next to it.",
            ),
        ]
    ):
        f = decorator(f)
    return f


force_option = click.option(
    "--force", is_flag=True, help="Replace -o's file even if it is not a perfkit report."
)


def rule_options(f):
    """--select and --ignore, as report and compare take them."""
    f = click.option("--ignore", multiple=True, metavar="CODES", help="Skip these rules.")(f)
    return click.option(
        "--select",
        multiple=True,
        metavar="CODES",
        help="Only these rules (codes, PK1 prefixes, slugs).",
    )(f)


def split_keys(values: tuple[str, ...]) -> list[str]:
    """Rule keys from repeated, comma-separated options."""
    return [k.strip() for v in values for k in v.split(",") if k.strip()]
