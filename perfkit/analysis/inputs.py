"""Turn what the user points at into units of Evidence.

Accepted: a run directory (``run.json`` or one ``run.rank<R>.json`` per rank, and the
traces it lists: beside the run file, or in ``traces/`` in runs recorded before),
a run file, one Kineto trace
(``*.pt.trace.json[.gz]``, ``.json``, ``.json.gz``), or a directory of traces (a
TensorBoard log directory). Every failure is an InputError naming the file and the problem.
"""

from __future__ import annotations

import dataclasses
import os
import shlex
from collections.abc import Callable
from pathlib import Path, PurePath

from perfkit.errors import InputError
from perfkit.evidence import Evidence
from perfkit.runfile import RUN_FILE_NAME, Run, rank_files, run_from_dict
from perfkit.trace import load_json_or_trace, load_trace
from perfkit.trace.load import looks_like_trace
from perfkit.trace.summary import TraceSummary

# Told (the folder, files read so far, files in it, what they are) before the first file
# of a folder of rank files or traces and after each: the command line's progress bar
# (perfkit.progress) listens while it reads, as it does to the trace stream.
observers: list[Callable[[str, int, int, str], None]] = []


def tell(folder: Path, done: int, total: int, what: str) -> None:
    for observer in observers:
        observer(str(folder), done, total, what)


def load_inputs(path: str | os.PathLike[str]) -> list[Evidence]:
    p = Path(path)
    if not p.exists():
        raise InputError(f"{p}: no such file or directory")
    if p.suffix == ".py":
        raise InputError(
            f"{p}: a Python script, not a run; to profile it: perfkit run {shlex.quote(str(p))}"
        )
    if p.is_dir():
        if (p / RUN_FILE_NAME).exists():
            return [_file_unit(p / RUN_FILE_NAME)]
        ranks = rank_files(p)
        if ranks:  # one file per rank of a torchrun job
            units = []
            for done, f in enumerate(ranks):
                tell(p, done, len(ranks), "rank files")
                units.append(_file_unit(f))
            tell(p, len(ranks), len(ranks), "rank files")
            return units
        traces = sorted(q for q in p.rglob("*") if q.is_file() and looks_like_trace(q))
        if not traces:
            raise InputError(f"{p}: no run.json and no *.pt.trace.json[.gz] files in it")
        return _trace_units(traces, p)
    return [_file_unit(p)]


def _trace_units(paths: list[Path], folder: Path) -> list[Evidence]:
    """Every trace of a folder that reads; the others are named, and fail only if all do."""
    units, unreadable = [], []
    for done, path in enumerate(paths):
        tell(folder, done, len(paths), "traces")
        try:
            units.append(Evidence(trace=_nonempty(load_trace(path))))
        except InputError as e:
            unreadable.append(str(e))
    tell(folder, len(paths), len(paths), "traces")
    if not units:
        raise InputError(unreadable[0] if len(paths) == 1 else "; ".join(unreadable[:3]))
    units[0] = dataclasses.replace(units[0], unreadable=tuple(unreadable))
    return units


def _file_unit(path: Path) -> Evidence:
    """A run file (with the traces of its run directory) or a trace, whichever it is."""
    data = load_json_or_trace(path)
    if isinstance(data, TraceSummary):
        return Evidence(trace=_nonempty(data))
    if isinstance(data, dict) and "schema" in data:
        run = run_from_dict(data, path)
        traces = _run_traces(path.parent, run)
        try:
            return Evidence(run=run, trace=_nonempty(load_trace(traces[0])) if traces else None)
        except InputError as e:  # a broken trace must not hide the run file
            return Evidence(run=run, trace_error=str(e))
    raise InputError(f"{path}: neither a perfkit run file nor a Chrome/Kineto trace")


def _nonempty(trace: TraceSummary) -> TraceSummary:
    """A trace without a single event is an error, not a clean bill of health."""
    if not trace.events:
        raise InputError(f"{trace.path}: the trace holds no events (profiler stopped early?)")
    return trace


def _run_traces(run_dir: Path, run: Run) -> list[Path]:
    """The run's traces, read only inside its directory: a listed name that is absolute or
    climbs out (``/etc/...``, ``../../x``), or a link that leads out, is not the run's."""
    home = run_dir.resolve()

    def ours(p: Path) -> bool:
        return p.is_file() and p.resolve().is_relative_to(home)

    listed = [run_dir / name for name in run.traces if _inside(name) and ours(run_dir / name)]
    if listed:
        return listed
    # Not listed (the process died before its first write after the window): the traces
    # this process wrote beside the run file (``<host>_<pid>.``: a run file may lie among
    # other traces, or other ranks'), else those in traces/, where earlier versions of
    # perfkit wrote them, its own first.
    mine = f"{run.env.host}_{run.env.pid}." if run.env.host and run.env.pid else None
    beside = [p for p in run_dir.glob("*.pt.trace.json*") if mine and p.name.startswith(mine)]
    if any(ours(p) for p in beside):
        return [p for p in sorted(beside) if ours(p)]
    old = [p for p in sorted((run_dir / "traces").glob("*.pt.trace.json*")) if ours(p)]
    return [p for p in old if mine and p.name.startswith(mine)] or old


def _inside(name: str) -> bool:
    relative = PurePath(name)
    return not relative.is_absolute() and ".." not in relative.parts and bool(relative.parts)
