"""The one error type for input perfkit cannot use. The CLI prints it on one line and exits
with 2, which CI tells apart from 1 (a finding at ``--fail-on``)."""

from __future__ import annotations

import os


class InputError(Exception):
    """Bad input: ``str(e)`` is one line, ``"<path>: <problem>"`` when a file is at fault."""


class FileError(InputError):
    """A file that cannot be used; ``path`` and ``problem`` are kept apart for callers."""

    def __init__(self, path: str | os.PathLike[str], problem: str) -> None:
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")
