"""At close, a rank of a job reduces its own run file and traces to its rank summary
(perfkit/ranksummary.py), so that a report of a thousand ranks reads a thousand small
files instead of a thousand run files and traces: the work is spread over the job.

It runs after the run file's last write, on this rank alone (no rank waits for another),
and never costs the training: a failure is one line on stderr, and the report then reads
this rank's run file instead. Its cost is bounded by the run file's (bounded) size and by
``MAX_TRACE_BYTES``: bigger traces are left to the report, which reads them in a pool.
"""

from __future__ import annotations

import contextlib
import os
import socket
import sys
from pathlib import Path

from perfkit.escape import terminal_line

# PERFKIT_RANK_SUMMARY=0 (or off, false, no) turns summaries off for every session.
SWITCH = "PERFKIT_RANK_SUMMARY"
# The traces (as written, gzipped) a rank reduces at close: at today's reading speed this
# takes a few seconds. Bigger ones are left to the report.
MAX_TRACE_BYTES = 64 << 20


def summaries_on(option: bool) -> bool:
    """Whether ranks write summaries: the session's option, unless the switch says no."""
    return option and os.environ.get(SWITCH, "1").strip().lower() not in ("0", "off", "false", "no")


def forget_summary(run_file: Path) -> None:
    """Remove the summary of an earlier run whose file this run replaces (``--force``): it
    would tell the report about the old run."""
    from perfkit.ranksummary import summary_path

    with contextlib.suppress(OSError):
        summary_path(run_file).unlink()


def write_rank_summary(run_file: Path, quiet: bool = False) -> None:
    """Reduce this rank's run file (just written) and its traces into its summary."""
    try:
        traces = _own_traces_bytes(run_file.parent)
        if traces > MAX_TRACE_BYTES:
            _say(
                f"no rank summary for {run_file.name}: its traces hold {traces >> 20} MiB "
                f"(more than {MAX_TRACE_BYTES >> 20}); the report reads them",
                quiet,
            )
            return
        from perfkit.analysis.rankfiles import summarize_file
        from perfkit.config import load_config
        from perfkit.ranksummary import write_summary

        write_summary(run_file, summarize_file(run_file, load_config().thresholds))
    except Exception as e:  # the training is over and saved: this costs a line, no more
        _say(f"no rank summary for {run_file.name} ({type(e).__name__}: {e})", quiet=False)


def _own_traces_bytes(run_dir: Path) -> int:
    """This process's traces in the run directory (``<host>_<pid>.``, as the window names
    them; the other ranks' lie beside them)."""
    mine = f"{socket.gethostname()}_{os.getpid()}."
    return sum(p.stat().st_size for p in run_dir.glob(f"{mine}*.pt.trace.json*"))


def _say(text: str, quiet: bool) -> None:
    if not quiet:
        print(terminal_line(f"perfkit: {text}"), file=sys.stderr)
