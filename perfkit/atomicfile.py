"""Write a file so that readers see the old one or the new one, never a mix.

A full disk or a crash halfway leaves the old file as it was: the new text goes to a
temporary file beside it, is synced, then renamed over the target.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TextIO


def _file_mode() -> int:
    """What open() would give a new file: mkstemp's private 0600 is not what users expect."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


_FILE_MODE = _file_mode()


def write_atomic(path: str | os.PathLike[str], write: Callable[[TextIO], object]) -> None:
    """Call ``write`` on a temporary UTF-8 file beside ``path``, then put it in place."""
    target = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        os.fchmod(fd, _FILE_MODE)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, target)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def write_text_atomic(path: str | os.PathLike[str], text: str) -> None:
    write_atomic(path, lambda f: f.write(text))
