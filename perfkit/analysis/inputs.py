"""Turn what the user points at into units of Evidence.

Accepted: a run directory (``run.json`` or one ``run.rank<R>.json`` per rank, + ``traces/``),
a run file, one Kineto trace
(``*.pt.trace.json[.gz]``, ``.json``, ``.json.gz``), or a directory of traces (a
TensorBoard log directory). Every failure is an InputError naming the file and the problem.
"""

from __future__ import annotations

import os
from pathlib import Path

from perfkit.evidence import Evidence
from perfkit.jsonio import JsonFileError
from perfkit.runfile import RUN_FILE_NAME, Run, RunFileError, rank_files, run_from_dict
from perfkit.trace import load_trace
from perfkit.trace.load import check_trace, looks_like_trace, read_trace_json
from perfkit.trace.stream import NotStreamable
from perfkit.trace.summary import TraceSummary, summarize, summarize_file


class InputError(Exception):
    """Unreadable input: ``str(e)`` is ``"<path>: <problem>"``."""


def load_inputs(path: str | os.PathLike[str]) -> list[Evidence]:
    p = Path(path)
    if not p.exists():
        raise InputError(f"{p}: no such file or directory")
    try:
        if p.is_dir():
            if (p / RUN_FILE_NAME).exists():
                return [_file_unit(p / RUN_FILE_NAME)]
            ranks = rank_files(p)
            if ranks:  # one file per rank of a torchrun job
                return [_file_unit(f) for f in ranks]
            traces = sorted(q for q in p.rglob("*") if q.is_file() and looks_like_trace(q))
            if not traces:
                raise InputError(f"{p}: no run.json and no *.pt.trace.json[.gz] files in it")
            return [Evidence(trace=_nonempty(load_trace(t))) for t in traces]
        return [_file_unit(p)]
    except (JsonFileError, RunFileError) as e:
        raise InputError(str(e)) from None


def _file_unit(path: Path) -> Evidence:
    """A run file (with the traces of its run directory) or a trace, whichever it is.

    Traces are streamed (they can be GB); a file that is not one is read whole."""
    try:
        return Evidence(trace=_nonempty(summarize_file(path)))
    except NotStreamable:
        data = read_trace_json(path)
    if isinstance(data, dict) and "schema" in data:
        run = run_from_dict(data, path)
        traces = _run_traces(path.parent, run)
        try:
            return Evidence(run=run, trace=_nonempty(load_trace(traces[0])) if traces else None)
        except (JsonFileError, InputError) as e:  # a broken trace must not hide the run file
            return Evidence(run=run, trace_error=str(e))
    if isinstance(data, list) or (isinstance(data, dict) and "traceEvents" in data):
        return Evidence(trace=_nonempty(summarize(check_trace(data, path), str(path))))
    raise InputError(f"{path}: neither a perfkit run file nor a Chrome/Kineto trace")


def _nonempty(trace: TraceSummary) -> TraceSummary:
    """A trace without a single event is an error, not a clean bill of health."""
    if not trace.events:
        raise InputError(f"{trace.path}: the trace holds no events (profiler stopped early?)")
    return trace


def _run_traces(run_dir: Path, run: Run) -> list[Path]:
    listed = [run_dir / name for name in run.traces if (run_dir / name).is_file()]
    return listed or sorted((run_dir / "traces").glob("*.pt.trace.json*"))
