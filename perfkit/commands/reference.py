"""``perfkit reference``: the reference loop with injectable anti-patterns."""

from __future__ import annotations

import os

import click

from perfkit.capture.rundir import launched_rank
from perfkit.commands import InputError, capture_options
from perfkit.commands.summary import print_summary
from perfkit.reference.injections import INJECTIONS, PRESETS, InjectionError, parse_injections


def _print_catalogue(has_gpu: bool) -> None:
    click.echo("Injectable anti-patterns (--inject SLUG,...):\n")
    for inj in INJECTIONS.values():
        where = "" if not inj.needs_gpu or has_gpu else "  [needs a CUDA device]"
        presets = "/".join(inj.presets)
        click.echo(f"  {inj.code}  {inj.slug:<24} {inj.what} ({presets}){where}")


@click.command(short_help="Run the reference training loop.")
@click.option("--inject", metavar="SLUG,...", help="Anti-patterns to inject (see --list).")
@click.option(
    "--preset",
    type=click.Choice(PRESETS),
    default="iris",
    show_default=True,
    help="iris: 4-10-3 MLP, full batch. cnn: small CNN, DataLoader, validation.",
)
@click.option(
    "--steps", type=click.IntRange(min=1), help="Training steps (default: 200 iris, 60 cnn)."
)
@click.option(
    "--list", "list_only", is_flag=True, help="List the injectable anti-patterns and exit."
)
@click.option(
    "--ddp", is_flag=True, help="Run as one rank of a torchrun job, with DistributedDataParallel."
)
@capture_options
def reference(
    inject, preset, steps, list_only, ddp, out, window, window_ranks, sample_hz, force
) -> int:
    """Train the reference loop under perfkit and write a run directory.

    With no --inject it is the clean, well-written loop: a report on it should find
    nothing to fix. Each --inject slug adds one anti-pattern from the rule catalogue.

    \b
    Example:  perfkit reference --preset cnn --inject data-starved,host-sync
    \b
    Two ranks (each writes run.rank<R>.json into the same directory):
      torchrun --standalone --nproc_per_node 2 -m perfkit reference --ddp \\
          --preset cnn --inject rank-straggler -o runs/ddp
    """
    import torch

    has_gpu = torch.cuda.is_available()
    if list_only:
        _print_catalogue(has_gpu)
        return 0
    try:
        if ddp and "WORLD_SIZE" not in os.environ:
            raise InjectionError("--ddp runs under torchrun (see the example in --help)")
        chosen = parse_injections(inject, preset, has_gpu, ddp)
    except InjectionError as e:
        raise InputError(str(e)) from None
    from perfkit.reference import DEFAULT_STEPS, run_reference

    n = steps or DEFAULT_STEPS[preset]
    what = ", ".join(sorted(chosen)) if chosen else "nothing (the clean loop)"
    device = "cuda" if has_gpu else "cpu"
    if not launched_rank():  # under torchrun, rank 0 speaks for the job
        click.echo(
            f"Training the {preset} preset for {n} steps on {device}, injecting {what} ...",
            err=True,
        )
    run_dir, _ = run_reference(
        preset,
        chosen,
        out=out,
        steps=n,
        window=window,
        window_ranks=window_ranks,
        sample_hz=sample_hz,
        force=force,
        ddp=ddp,
        quiet=True,  # the summary below says where the run is
    )
    print_summary(run_dir)
    return 0
