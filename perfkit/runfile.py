"""The run file: the only thing that crosses from capture to analysis.

A run directory holds ``run.json`` (schema ``perfkit.run/2``, documented in
``docs/run-format.md``) and ``traces/``. Capture writes it atomically (temp file +
rename) so a reader never sees half a file, and rewrites it periodically so a killed
process still leaves a readable run marked ``"complete": false``.

This module imports neither torch nor anything from capture: analysis and the CLI load
runs on machines without a GPU or without torch at all.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import orjson

from perfkit.atomicfile import write_atomic
from perfkit.errors import FileError
from perfkit.jsonio import JsonFileError, read_json
from perfkit.runmodel import SCHEMA, SCHEMA_NAME, SCHEMA_VERSION, FormatError, Run

__all__ = [
    "RUN_FILE_NAME",
    "SCHEMA",
    "SCHEMA_NAME",
    "SCHEMA_VERSION",
    "Run",
    "RunFileError",
    "load_run",
    "rank_files",
    "run_file_name",
    "run_from_dict",
    "write_json_atomic",
]

RUN_FILE_NAME = "run.json"
# Under torchrun each rank writes its own file into the same run directory.
RANK_FILE_PATTERN = "run.rank*.json"


def run_file_name(rank: int | None) -> str:
    """``run.json`` for a single process, ``run.rank<R>.json`` for rank R of a job."""
    return RUN_FILE_NAME if rank is None else f"run.rank{rank}.json"


def rank_files(run_dir: str | os.PathLike[str]) -> list[Path]:
    """The per-rank run files of a run directory, in rank order."""

    def rank_of(p: Path) -> int:
        middle = p.name[len("run.rank") : -len(".json")]
        return int(middle) if middle.isdecimal() else 1 << 30

    return sorted(Path(run_dir).glob(RANK_FILE_PATTERN), key=rank_of)


class RunFileError(FileError):
    """A run file that cannot be read; the message names the file and the problem."""


def resolve_run_path(path: str | os.PathLike[str]) -> Path:
    """Accept a run directory (its run.json, else its rank 0 file) or a run file."""
    p = Path(path)
    try:
        if p.is_dir():
            ranks = rank_files(p)
            return ranks[0] if ranks and not (p / RUN_FILE_NAME).exists() else p / RUN_FILE_NAME
    except OSError as e:  # a name too long, a folder without permission
        raise RunFileError(p, e.strerror or str(e)) from None
    return p


def load_run(path: str | os.PathLike[str]) -> Run:
    """Read and check a run file (or a run directory). Raises RunFileError."""
    p = resolve_run_path(path)
    try:
        data = read_json(p)
    except JsonFileError as e:
        raise RunFileError(p, e.problem) from None
    return run_from_dict(data, p)


def run_from_dict(data: Any, path: str | os.PathLike[str] = "<memory>") -> Run:
    """Check and type a decoded run file; RunFileError names the file and the field."""
    try:
        return Run.from_json(data, str(path))
    except FormatError as e:
        raise RunFileError(path, str(e)) from None


def json_bytes(data: Any) -> bytes:
    """Compact JSON. orjson writes a long run's file in a tenth of the time of the json
    module (non-finite numbers become null); the json module takes what orjson refuses
    (integers past 64 bits). orjson's result is copied: it keeps the 4 KiB its writer
    started with, which adds up over the thousands of step records a run keeps."""
    try:
        return bytes(memoryview(orjson.dumps(data, default=str)))
    except orjson.JSONEncodeError:
        return json.dumps(data, separators=(",", ":"), allow_nan=False, default=str).encode()


def write_json_atomic(path: str | os.PathLike[str], data: Any) -> None:
    """Write JSON so that readers see the old file or the new one, never a mix."""
    write_bytes_atomic(path, json_bytes(data))


def write_bytes_atomic(path: str | os.PathLike[str], data: bytes) -> None:
    write_atomic(path, lambda f: f.buffer.write(data))
