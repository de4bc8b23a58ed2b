"""Progress bars while inputs are read: rich's, on stderr, only on a terminal, and only for
work that takes a while (they disappear when done). One bar per big trace, in bytes; one
per folder of many rank files or traces, in files."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from perfkit.trace import stream

# Files smaller than this read in about a second: no bar.
MIN_BYTES = 64 << 20
# A folder of this many rank files or traces gets a bar from its first file ...
MIN_FILES = 16
# ... and one of fewer files once reading it has taken this long (big files, or a slow
# network file system).
SLOW_S = 2.0


@contextlib.contextmanager
def reading(enabled: bool) -> Iterator[None]:
    if not enabled:
        yield
        return
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TimeRemainingColumn

    from perfkit.analysis import inputs

    columns = ("{task.description}", BarColumn(), _amount(), TimeRemainingColumn())
    with Progress(*columns, console=Console(stderr=True), transient=True) as bar:
        tasks: dict[str, Any] = {}
        started: dict[str, float] = {}

        def seen(path: str, done: int, total: int) -> None:
            if total < MIN_BYTES:
                return
            if path not in tasks:
                tasks[path] = bar.add_task(f"reading {Path(path).name}", total=total)
            bar.update(tasks[path], completed=done)

        def counted(folder: str, done: int, total: int, what: str) -> None:
            key = f"{folder}\0{what}"
            now = time.monotonic()
            if done == 0:
                started[key] = now
            if key not in tasks:
                slow = now - started.get(key, now) >= SLOW_S
                if done >= total or (total < MIN_FILES and not slow):
                    return
                name = f"reading {what} of {Path(folder).name}"
                tasks[key] = bar.add_task(name, total=total, files=True)
            bar.update(tasks[key], completed=done)

        stream.observers.append(seen)
        inputs.observers.append(counted)
        try:
            yield
        finally:
            stream.observers.remove(seen)
            inputs.observers.remove(counted)


def _amount() -> Any:
    """A column of how much is read: bytes of a trace, or files of a folder ("12/64 files")."""
    from rich.progress import DownloadColumn, ProgressColumn
    from rich.text import Text

    class Amount(ProgressColumn):
        def __init__(self) -> None:
            super().__init__()
            self._bytes = DownloadColumn()

        def render(self, task: Any) -> Any:
            if task.fields.get("files"):
                return Text(f"{int(task.completed)}/{int(task.total or 0)} files")
            return self._bytes.render(task)

    return Amount()
