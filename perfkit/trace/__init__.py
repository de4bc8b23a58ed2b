"""Kineto trace ingestion: read a trace, reduce it to a TraceSummary that rules can judge."""

from perfkit.trace.load import TraceFileError, read_trace
from perfkit.trace.summary import TraceStep, TraceSummary, summarize

__all__ = ["TraceFileError", "TraceStep", "TraceSummary", "read_trace", "summarize", "load_trace"]


def load_trace(path) -> TraceSummary:
    """Read and summarize one trace file. Raises TraceFileError."""
    return summarize(read_trace(path), str(path))
