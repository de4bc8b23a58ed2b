"""Which judgement a rank summary holds: the perfkit version and the code that judged.

A summary written at a rank's close is reused by later reports only while it says what
they would find themselves. The version alone is not enough (a rule changes between two
releases, or in a checkout), so the digest of the sources that read and judge a run (the
rules, the analysis, the evidence, the trace reader and the run model) is part of it.
"""

from __future__ import annotations

import functools
import hashlib
from pathlib import Path

from perfkit._version import __version__

_PACKAGE = Path(__file__).resolve().parent
JUDGING = ("rules", "analysis", "trace", "evidence.py", "runmodel.py", "thresholds.py")


@functools.cache
def judge_version() -> str:
    """``<version>+<digest>``; the version alone where the sources cannot be read (a
    frozen or zipped install)."""
    digest = hashlib.blake2b(digest_size=6)
    try:
        for name in JUDGING:
            path = _PACKAGE / name
            for source in sorted(path.rglob("*.py")) if path.is_dir() else [path]:
                digest.update(source.relative_to(_PACKAGE).as_posix().encode())
                digest.update(source.read_bytes())
    except OSError:
        return __version__
    return f"{__version__}+{digest.hexdigest()}"
