"""Which judgement a rank summary holds: the perfkit version and the code that judged.

A summary written at a rank's close is reused by later reports only while it says what
they would find themselves. The version alone is not enough (a rule changes between two
releases, or in a checkout), so the digest of every source that reads or judges a run (all
of the package but capture, reports and the command line) is part of it.
"""

from __future__ import annotations

import functools
import hashlib
from pathlib import Path

from perfkit._version import __version__

_PACKAGE = Path(__file__).resolve().parent
# What never changes a verdict: recording a run, rendering a report, the command line.
NOT_JUDGING = ("capture", "report", "commands", "reference", "integrations")


def judging_sources() -> list[Path]:
    """The package's sources but those of NOT_JUDGING, in a stable order."""
    return sorted(
        path
        for path in _PACKAGE.rglob("*.py")
        if path.relative_to(_PACKAGE).parts[0] not in NOT_JUDGING
    )


@functools.cache
def judge_version() -> str:
    """``<version>+<digest>``; the version alone where the sources cannot be read (a
    frozen or zipped install)."""
    digest = hashlib.blake2b(digest_size=6)
    try:
        sources = judging_sources()
        for source in sources:
            digest.update(source.relative_to(_PACKAGE).as_posix().encode())
            digest.update(source.read_bytes())
    except OSError:
        return __version__
    if not sources:
        return __version__
    return f"{__version__}+{digest.hexdigest()}"
