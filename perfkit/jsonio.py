"""Read a JSON file (optionally gzipped) with one clear error per failure."""

from __future__ import annotations

import gzip
import json
import os
import zlib
from pathlib import Path
from typing import Any

import orjson  # parses large files several times faster than the stdlib

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


def read_bytes(path: str | os.PathLike[str]) -> bytes:
    """The file's bytes, gunzipped when gzipped; a JsonFileError when unreadable or empty."""
    p = Path(path)
    try:
        raw = p.read_bytes()
    except OSError as e:
        raise open_error(p, e) from None
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as e:
            raise JsonFileError(p, f"corrupt or truncated gzip ({e})") from None
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
