"""Read a JSON file (optionally gzipped) with one clear error per failure."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import IO, Any

import orjson  # parses large files several times faster than the stdlib

from perfkit import gunzip
from perfkit.errors import FileError


class JsonFileError(FileError):
    """A file that cannot be read as JSON; the message names the file and the problem."""


def open_error(path: str | os.PathLike[str], e: OSError) -> JsonFileError:
    """The one-line error for a file that cannot be opened or read."""
    if isinstance(e, FileNotFoundError):
        return JsonFileError(path, "no such file")
    if isinstance(e, PermissionError):
        return JsonFileError(path, "permission denied")
    if isinstance(e, IsADirectoryError):
        return JsonFileError(path, "is a directory")
    return JsonFileError(path, f"cannot read ({e.strerror or e})")


def read_json(path: str | os.PathLike[str]) -> Any:
    return parse_json(read_bytes(path), path)


# A file read whole (one that cannot be streamed) may hold at most this much text, gzipped
# or not: parsing costs several times its size in memory. ``perfkit report --max-read``
# raises it.
MAX_WHOLE_READ_BYTES = 1 << 30
# Bytes looked at first: a file whose text does not start an object or array (zeros, a
# binary) is refused before the rest is read or decompressed.
HEAD_BYTES = 1 << 16


def open_regular(path: str | os.PathLike[str]) -> IO[bytes]:
    """The file, opened for reading; a device, a pipe or a socket is refused (``/dev/zero``
    never ends)."""
    try:
        # Before opening: open() itself blocks on a FIFO that nobody writes to.
        regular = stat.S_ISREG(os.stat(path).st_mode)
        f = open(path, "rb") if regular else None  # noqa: SIM115 - the caller closes it
    except OSError as e:
        raise open_error(path, e) from None
    if f is None or not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
        if f is not None:
            f.close()
        raise JsonFileError(path, "not a regular file (a device, pipe or socket); save it first")
    return f


def read_bytes(path: str | os.PathLike[str]) -> bytes:
    """The file's bytes, gunzipped when gzipped, up to ``MAX_WHOLE_READ_BYTES``; a
    JsonFileError when unreadable, empty or larger (a gzip bomb stops at the limit)."""
    p = Path(path)
    limit = MAX_WHOLE_READ_BYTES
    with open_regular(p) as f:
        try:
            gzipped = f.peek(2)[:2] == gunzip.MAGIC  # type: ignore[attr-defined]
            source: Any = gunzip.gunzipped(f) if gzipped else f
            raw = source.read(min(HEAD_BYTES, limit + 1))
            head = raw.lstrip(b" \t\r\n")
            if head and head[:1] not in (b"{", b"["):
                raise JsonFileError(p, f"not valid JSON (it starts with {head[:8]!r})")
            if not head and len(raw) == HEAD_BYTES:
                raise JsonFileError(p, f"not valid JSON (it starts with {HEAD_BYTES} spaces)")
            if len(raw) <= limit:
                raw += source.read(limit + 1 - len(raw))
        except gunzip.ERRORS as e:
            raise JsonFileError(p, f"corrupt or truncated gzip ({e})") from None
        except OSError as e:
            raise open_error(p, e) from None
    if len(raw) > limit:
        what = "decompresses to" if gzipped else "holds"
        raise JsonFileError(
            p,
            f"{what} more than {size_text(limit)} that must be read whole "
            "(raise the limit with --max-read GIB)",
        )
    if not raw.strip():
        raise JsonFileError(p, "the file is empty")
    return raw


def parse_json(raw: bytes, path: str | os.PathLike[str]) -> Any:
    p = Path(path)
    try:
        return orjson.loads(raw)
    except ValueError as e:  # orjson.JSONDecodeError and UnicodeDecodeError are ValueErrors
        try:  # valid JSON that orjson refuses: integers beyond 64 bits, lone surrogates
            return json.loads(raw)
        except (ValueError, RecursionError):
            raise JsonFileError(p, f"not valid JSON ({e})") from None


def size_text(n: float) -> str:
    return f"{n / 2**30:.1f} GiB" if n >= 1 << 30 else f"{n / 2**20:.0f} MiB"
