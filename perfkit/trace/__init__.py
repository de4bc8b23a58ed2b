"""Kineto trace ingestion: read a trace, reduce it to a TraceSummary that rules can judge."""

from perfkit.trace.load import TraceFileError, read_trace
from perfkit.trace.stream import NotStreamable
from perfkit.trace.summary import TraceStep, TraceSummary, summarize, summarize_file

__all__ = ["TraceFileError", "TraceStep", "TraceSummary", "read_trace", "summarize", "load_trace"]


def load_trace(path) -> TraceSummary:
    """Read and summarize one trace file, streaming it when its layout allows.
    Raises TraceFileError."""
    try:
        return summarize_file(path)
    except NotStreamable:
        return summarize(read_trace(path), str(path))
