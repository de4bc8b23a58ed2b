"""Gunzip with Intel's ISA-L (the ``isal`` package) where it is installed, else the stdlib.

A big trace is mostly repeated text: ISA-L inflates it at several GB/s where zlib gives
~0.6 GB/s, which made gunzip a quarter of a gzipped trace's read. Both raise the same
errors for a truncated or corrupt file, but for ISA-L's own ``IsalError``: ``ERRORS`` holds
every error that means "corrupt or truncated gzip".
"""

from __future__ import annotations

import gzip
import zlib
from typing import IO, cast

MAGIC = b"\x1f\x8b"

try:
    from isal import igzip, isal_zlib
except ImportError:  # a platform without its wheel: the stdlib reads the same files
    GzipFile: type[gzip.GzipFile] = gzip.GzipFile
    ERRORS: tuple[type[Exception], ...] = (EOFError, zlib.error, gzip.BadGzipFile)
else:
    GzipFile = igzip.IGzipFile
    # isal's stubs call its error an instance; it is ISA-L's exception class
    ERRORS = (EOFError, zlib.error, gzip.BadGzipFile, cast(type[Exception], isal_zlib.error))


def gunzipped(f: IO[bytes]) -> gzip.GzipFile:
    """``f``'s text: a reader over a gzipped file opened for reading (``fileobj`` is ``f``)."""
    return GzipFile(fileobj=f, mode="rb")
