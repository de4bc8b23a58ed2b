"""Read a Kineto / Chrome trace (``*.pt.trace.json`` or ``.json.gz``) with clear errors."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from perfkit.jsonio import JsonFileError, parse_json, read_bytes


def check_trace(data: Any, path: str | os.PathLike[str]) -> dict[str, Any]:
    """The decoded trace as ``{"traceEvents": [...], ...}`` (a bare event list is wrapped)."""
    if isinstance(data, list):
        data = {"traceEvents": data}
    if not isinstance(data, dict) or not isinstance(data.get("traceEvents"), list):
        raise JsonFileError(path, "not a Chrome/Kineto trace (no 'traceEvents' list)")
    return data


def read_trace(path: str | os.PathLike[str]) -> dict[str, Any]:
    return check_trace(read_trace_json(path), path)


def read_trace_json(path: str | os.PathLike[str]) -> Any:
    """The file's JSON, read whole; Kineto's known breakage (below) is repaired if parsing
    fails because of it, else the parse error is raised."""
    raw = read_bytes(path)
    try:
        return parse_json(raw, path)
    except JsonFileError as e:
        repaired = _escape_quotes_in_names(raw) if e.problem.startswith("not valid JSON") else None
        if repaired is None:
            raise
        try:
            return parse_json(repaired, path)
        except JsonFileError:
            raise e from None


# Kineto (torch 2.13 included) writes Python function names without escaping them, e.g.
#     "name": "google/protobuf/text_format.py(1482): Extension "",
# which no JSON parser accepts. Such lines are repaired; nothing else is touched.
_NAME_LINE = re.compile(rb'^(\s*"name": ")(.*)(",)[ \t\r]*$', re.M)
_UNESCAPED_QUOTE = re.compile(rb'(?<!\\)"')


def _escape_quotes_in_names(raw: bytes) -> bytes | None:
    """``raw`` with quotes inside Kineto's name lines escaped, or None if there were none."""
    fixed = 0

    def escape(m: re.Match[bytes]) -> bytes:
        nonlocal fixed
        inner, n = _UNESCAPED_QUOTE.subn(rb'\\"', m[2])
        fixed += n
        return m[1] + inner + m[3]

    repaired = _NAME_LINE.sub(escape, raw)
    return repaired if fixed else None


def looks_like_trace(path: Path) -> bool:
    return path.name.endswith((".pt.trace.json", ".pt.trace.json.gz"))
