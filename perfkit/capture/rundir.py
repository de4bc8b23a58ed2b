"""Choose the run directory: never overwrite an existing run unless asked to."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from perfkit.runfile import RUN_FILE_NAME

DEFAULT_ROOT = "perfkit-runs"


def default_run_dir() -> Path:
    script = Path(sys.argv[0]).stem if sys.argv and sys.argv[0] not in ("", "-c") else "run"
    return Path(DEFAULT_ROOT) / f"{script}-{time.strftime('%Y%m%d-%H%M%S')}"


def choose_run_dir(out: str | os.PathLike[str] | None, *, force: bool) -> Path:
    """``out`` (or a default), or ``out-2``, ``out-3`` ... when ``out`` already holds a run."""
    base = Path(out) if out is not None else default_run_dir()
    if force or not (base / RUN_FILE_NAME).exists():
        return base
    n = 2
    while (base.with_name(f"{base.name}-{n}") / RUN_FILE_NAME).exists():
        n += 1
    chosen = base.with_name(f"{base.name}-{n}")
    # Always said, even in quiet mode: the run is not where the user asked for it.
    print(f"perfkit: {base} already holds a run; writing to {chosen}", file=sys.stderr)
    return chosen
