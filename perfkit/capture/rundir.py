"""Choose the run directory: never overwrite an existing run unless asked to."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from perfkit.escape import terminal_line

DEFAULT_ROOT = "perfkit-runs"


def launched_rank() -> int | None:
    """This process's rank when a launcher (torchrun) started several; None otherwise."""
    world = os.environ.get("WORLD_SIZE", "")
    rank = os.environ.get("RANK", "")
    if world.isdigit() and int(world) > 1 and rank.isdigit():
        return int(rank)
    return None


def default_run_dir(script_path: str | None = None) -> Path:
    """``perfkit-runs/<script>-<time>``: the running script, or ``script_path``."""
    if script_path is None and sys.argv and sys.argv[0] not in ("", "-c"):
        script_path = sys.argv[0]
    script = Path(script_path).stem if script_path else "run"
    # Ranks of one torchrun job share its run id, so they share the default directory.
    job = os.environ.get("TORCHELASTIC_RUN_ID")
    suffix = job if job and job != "none" else time.strftime("%Y%m%d-%H%M%S")
    return Path(DEFAULT_ROOT) / f"{script}-{suffix}"


def choose_run_dir(out: str | os.PathLike[str] | None, *, force: bool, file_name: str) -> Path:
    """``out`` (or a default), or ``out-2``, ``out-3`` ... when ``out`` already holds this run
    file (each rank checks its own file, so the ranks of a re-run move on together)."""
    base = Path(out) if out is not None else default_run_dir()
    if force or not (base / file_name).exists():
        return base
    n = 2
    while (base.with_name(f"{base.name}-{n}") / file_name).exists():
        n += 1
    chosen = base.with_name(f"{base.name}-{n}")
    # Always said, even in quiet mode: the run is not where the user asked for it.
    said = f"perfkit: {base} already holds a run; writing to {chosen}"
    print(terminal_line(said), file=sys.stderr)
    return chosen
