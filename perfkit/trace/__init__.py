"""Kineto trace ingestion: read a trace, reduce it to a TraceSummary that rules can judge."""

from __future__ import annotations

import os
from typing import Any

from perfkit.jsonio import JsonFileError
from perfkit.trace.load import check_trace, read_trace_json
from perfkit.trace.stream import NotStreamable
from perfkit.trace.summary import TraceStep, TraceSummary, summarize, summarize_file

__all__ = ["TraceStep", "TraceSummary", "load_json_or_trace", "load_trace", "summarize"]


def load_json_or_trace(path: str | os.PathLike[str]) -> TraceSummary | Any:
    """A trace summarized (streamed when its layout allows: traces can be GB), or any other
    JSON file decoded whole. Raises JsonFileError."""
    try:
        return summarize_file(path)
    except NotStreamable:
        data = read_trace_json(path)
    if isinstance(data, list) or (isinstance(data, dict) and "traceEvents" in data):
        return summarize(check_trace(data, path), str(path))
    return data


def load_trace(path: str | os.PathLike[str]) -> TraceSummary:
    """Read and summarize one trace file. Raises JsonFileError."""
    loaded = load_json_or_trace(path)
    if not isinstance(loaded, TraceSummary):
        raise JsonFileError(path, "not a Chrome/Kineto trace (no 'traceEvents' list)")
    return loaded
