"""A progress bar while big traces are read: rich's, on stderr, only on a terminal, and
only for files large enough to take a while (it disappears when done)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

from perfkit.trace import stream

# Files smaller than this read in about a second: no bar.
MIN_BYTES = 64 << 20


@contextlib.contextmanager
def reading(enabled: bool) -> Iterator[None]:
    if not enabled:
        yield
        return
    from rich.console import Console
    from rich.progress import BarColumn, DownloadColumn, Progress, TimeRemainingColumn

    columns = ("{task.description}", BarColumn(), DownloadColumn(), TimeRemainingColumn())
    with Progress(*columns, console=Console(stderr=True), transient=True) as bar:
        tasks: dict[str, object] = {}

        def seen(path: str, done: int, total: int) -> None:
            if total < MIN_BYTES:
                return
            if path not in tasks:
                tasks[path] = bar.add_task(f"reading {Path(path).name}", total=total)
            bar.update(tasks[path], completed=done)  # type: ignore[arg-type]

        stream.observers.append(seen)
        try:
            yield
        finally:
            stream.observers.remove(seen)
