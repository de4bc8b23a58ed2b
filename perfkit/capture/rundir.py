"""Choose and claim the run directory: never overwrite an existing run unless asked to.

The directory is made absolute once, when the session is created, so a script that
changes directory (as Hydra apps do) still writes where the user asked. It is claimed by
creating the run file exclusively, so two processes started together never share one.
"""

from __future__ import annotations

import os
import re
import sys
import time
from pathlib import Path

from perfkit.capture import guard
from perfkit.config import load_config
from perfkit.errors import InputError
from perfkit.escape import terminal_line

DEFAULT_ROOT = "perfkit-runs"
# What a job id may contribute to a folder name: no separators, no leading dots.
_UNSAFE_IN_NAME = re.compile(r"[^A-Za-z0-9_.-]+")


def launched_rank() -> int | None:
    """This process's rank when a launcher (torchrun) started several; None otherwise."""
    world = os.environ.get("WORLD_SIZE", "")
    rank = os.environ.get("RANK", "")
    if world.isdecimal() and int(world) > 1 and rank.isdecimal():
        return int(rank)
    return None


def default_run_dir(script_path: str | None = None) -> Path:
    """``perfkit-runs/<script>-<time>``: the running script, or ``script_path``."""
    if script_path is None and sys.argv and sys.argv[0] not in ("", "-c"):
        script_path = sys.argv[0]
    script = Path(script_path).stem if script_path else "run"
    # Ranks of one torchrun job share its run id, so they share the default directory.
    job = safe_name(os.environ.get("TORCHELASTIC_RUN_ID", ""))
    suffix = job if job and job != "none" else time.strftime("%Y%m%d-%H%M%S")
    return Path(default_root()) / f"{safe_name(script) or 'run'}-{suffix}"


def default_root() -> str:
    """Where default run directories go: [tool.perfkit] output, else perfkit-runs. A bad
    table costs the training nothing: it is said, and perfkit-runs is used."""
    try:
        return load_config(thresholds=False).output or DEFAULT_ROOT
    except InputError as e:
        print(terminal_line(f"perfkit: {e}; runs go to {DEFAULT_ROOT}/"), file=sys.stderr)
        return DEFAULT_ROOT


# Folder names stay well under the 255 bytes file systems allow.
MAX_NAME_CHARS = 80


def safe_name(text: str) -> str:
    """``text`` as one folder name that stays where it is put (``../x`` becomes ``x``)."""
    return _UNSAFE_IN_NAME.sub("-", text).lstrip(".-")[:MAX_NAME_CHARS]


def shown(path: Path) -> str:
    """A path as a user would type it from here: relative below the current directory."""
    relative = os.path.relpath(path)
    return path.as_posix() if relative.startswith("..") else relative


def claim_run_dir(out: Path, *, force: bool, file_name: str) -> Path:
    """``out``, or ``out-2``, ``out-3`` ... when ``out`` already holds this run file (each
    rank claims its own file, so the ranks of a re-run move on together).

    The run file is created empty here, exclusively; the first flush fills it. A folder
    that cannot be created is returned as it is: the writer says so and training goes on.
    """
    base = Path(out).absolute()
    candidate, n = base, 1
    while True:
        try:
            candidate.mkdir(parents=True, exist_ok=True)
            flags = os.O_WRONLY | os.O_CREAT | (0 if force else os.O_EXCL)
            os.close(os.open(candidate / file_name, flags, 0o644))
        except FileExistsError:
            n += 1
            candidate = base.parent / f"{base.name or 'run'}-{n}"
            continue
        except OSError as e:  # the writer says so again at each write; training goes on
            guard.internal_error(f"creating {candidate}", e)
            return candidate
        break
    if candidate != base:
        # Always said, even in quiet mode: the run is not where the user asked for it.
        said = f"perfkit: {shown(base)} already holds a run; writing to {shown(candidate)}"
        print(terminal_line(said), file=sys.stderr)
    return candidate
