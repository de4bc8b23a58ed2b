"""Read a Kineto / Chrome trace (``*.pt.trace.json`` or ``.json.gz``) with clear errors."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from perfkit.jsonio import JsonFileError, read_json

# A trace that cannot be read is a JsonFileError too: one error type, "<path>: <problem>".
TraceFileError = JsonFileError


def check_trace(data: Any, path: str | os.PathLike[str]) -> dict[str, Any]:
    """The decoded trace as ``{"traceEvents": [...], ...}`` (a bare event list is wrapped)."""
    if isinstance(data, list):
        data = {"traceEvents": data}
    if not isinstance(data, dict) or not isinstance(data.get("traceEvents"), list):
        raise TraceFileError(path, "not a Chrome/Kineto trace (no 'traceEvents' list)")
    return data


def read_trace(path: str | os.PathLike[str]) -> dict[str, Any]:
    return check_trace(read_json(path), path)


def looks_like_trace(path: Path) -> bool:
    return path.name.endswith((".pt.trace.json", ".pt.trace.json.gz"))
