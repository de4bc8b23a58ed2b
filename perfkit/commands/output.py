"""Where ``report -o`` and ``compare -o`` write.

The file is written atomically (a full disk leaves the old report whole), its folder is
created, an input is never overwritten (not even with ``--force``), and a file that is
not a perfkit report is replaced only with ``--force``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from fnmatch import fnmatch
from pathlib import Path

import click

from perfkit.atomicfile import write_text_atomic
from perfkit.commands import InputError
from perfkit.escape import printable, terminal_line
from perfkit.runfile import RANK_FILE_PATTERN, RUN_FILE_NAME
from perfkit.trace.load import looks_like_trace

# What the first (or, for GitHub annotations, the last) bytes of each report format perfkit
# writes contain.
REPORT_MARKERS = ("perfkit report", "perfkit compare", "perfkit.report/", "perfkit.compare/")
HEAD_BYTES = 4096


def write_output(text: str, output: str | None, *, inputs: Sequence[str], force: bool) -> None:
    """Print ``text``, or write it to ``output`` when given."""
    text = printable(text)
    if output is None or output == "-":
        click.echo(text, nl=False)
        return
    target = Path(output)
    if target.is_symlink() or (target.exists() and not target.is_file()):
        # A FIFO would block, a device (/dev/full) or a link would be replaced by a file.
        raise InputError(f"{output}: not a regular file; write the report to a file")
    if any(_overwrites_input(target, Path(p)) for p in inputs):
        raise InputError(f"{output}: is an input of this command; write the report elsewhere")
    if target.exists() and not force and not is_report(target):
        raise InputError(f"{output}: exists and is not a perfkit report; --force replaces it")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        write_text_atomic(target, text)
    except OSError as e:
        raise InputError(f"{output}: cannot write ({e.strerror or e})") from None
    click.echo(terminal_line(f"perfkit: report written to {output}"), err=True)


def is_report(path: Path) -> bool:
    """Whether ``path`` holds a report perfkit wrote (any format), judged by its start and
    its end (the summary line that ends GitHub annotations)."""
    try:
        with path.open("rb") as f:
            head = f.read(HEAD_BYTES)
            f.seek(max(f.seek(0, os.SEEK_END) - HEAD_BYTES, 0))
            tail = f.read()
    except OSError:
        return False
    ends = [part.decode("utf-8", "replace") for part in (head, tail)]
    return any(marker in part for part in ends for marker in REPORT_MARKERS)


def _overwrites_input(target: Path, source: Path) -> bool:
    """``target`` is ``source``, or a run file or trace inside the folder ``source``."""
    if not target.exists() or not source.exists():
        return False
    if os.path.samefile(target, source):
        return True
    if not source.is_dir() or not target.resolve().is_relative_to(source.resolve()):
        return False
    name = target.name
    return name == RUN_FILE_NAME or fnmatch(name, RANK_FILE_PATTERN) or looks_like_trace(target)
