"""The few lines printed after a capture: where the run is, and what to run next."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

import click

from perfkit.capture.rundir import launched_rank, shown
from perfkit.escape import terminal_line
from perfkit.evidence import Evidence
from perfkit.runfile import RunFileError, load_run, run_file_name


def print_summary(run_dir: Path, write_failure: str = "", steps_recorded: int = 0) -> None:
    """Where this process's run file is; under torchrun only rank 0 says it.
    ``write_failure``: why the last write of the run file failed (a full disk): the file
    then holds fewer than the ``steps_recorded``, and says so instead of its own count."""
    rank = launched_rank()
    if rank:
        return
    if write_failure:
        said = (
            f"perfkit: {steps_recorded} steps were recorded, but the run file could not be "
            f"written ({write_failure})"
        )
        click.echo(terminal_line(said), err=True)
    try:
        run = load_run(run_dir / run_file_name(rank))
    except RunFileError as e:
        click.echo(terminal_line(f"perfkit: the run could not be read back: {e}"), err=True)
        return
    source = run.capture.step_source or "none found"
    median = Evidence(run=run).median_step_ms  # the report's definition of step time
    if write_failure:
        line = f"the run file holds its last good write: {run.step_count} steps"
    elif run.steps and median is not None:
        line = f"{run.step_count:,} steps (boundaries: {source}), median step {median:.2f} ms"
    else:
        line = "no training steps were recognised (no optimizer step, backward or DataLoader batch)"
    lines = [line, f"run file  {shown(Path(run.path))}"]
    if len(run.traces) == 1:
        lines.append(f"trace     {shown(run_dir / run.traces[0])}")
    elif run.traces:
        lines.append(f"traces    {len(run.traces)} files in {shown(run_dir)}")
    lines.append(f"next      perfkit report {shlex.quote(shown(run_dir))}")
    for text in lines:
        click.echo(terminal_line(f"perfkit: {text}"), file=sys.stderr)
