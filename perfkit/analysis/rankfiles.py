"""A run directory of rank files, read as one job in bounded time and memory.

Each rank's summary (``summary.rank<R>.json``, written by the rank at close) is used when
it is fresh: judged by this perfkit (its version and a digest of its judging code), for
the run file beside it as it is now (same size), by the thresholds this report judges by.
The ranks without one (a rank killed before its close, a run recorded before summaries
existed, other thresholds) are reduced here from their run files and traces — by a pool of
worker processes when there are many, each worker holding one rank at a time, results in
rank order. The lead rank's run file is read whole too: the report's header, plots and
timeline describe it.
"""

from __future__ import annotations

import dataclasses
import multiprocessing
import os
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from itertools import repeat
from pathlib import Path

from perfkit.analysis.engine import analyze, analyze_job
from perfkit.analysis.inputs import load_inputs, tell
from perfkit.analysis.ranks import Job
from perfkit.analysis.reduce import reduce_rank
from perfkit.errors import InputError
from perfkit.findings import Report
from perfkit.judge_version import judge_version
from perfkit.ranksummary import RankSummary, read_summary, summary_path
from perfkit.rules._base import Rule
from perfkit.runfile import RUN_FILE_NAME, rank_files
from perfkit.thresholds import Overrides

# Fewer rank files to reduce than this are reduced in this process: starting a pool of
# fresh interpreters costs about a second.
POOL_FROM = 8


def report_path(
    path: str | os.PathLike[str],
    rules: Sequence[Rule] | None = None,
    unselected: Sequence[Rule] = (),
    thresholds: Overrides | None = None,
) -> Report:
    """The report of what ``path`` names: a job's rank files by their summaries (else
    reduced in a pool), anything else as ``load_inputs`` reads it."""
    job = load_job(path, thresholds)
    if job is not None:
        return analyze_job(job, rules, unselected, thresholds)
    return analyze(load_inputs(path), rules, unselected, thresholds)


def load_job(
    path: str | os.PathLike[str], thresholds: Overrides | None = None, workers: int | None = None
) -> Job | None:
    """The job of a run directory of two or more rank files (None for anything else).
    ``workers``: processes that reduce rank files without a fresh summary (default: the
    cores this process may use)."""
    folder = Path(path)
    if not folder.is_dir() or (folder / RUN_FILE_NAME).exists():
        return None
    files = rank_files(folder)
    if len(files) < 2:
        return None
    lead = dataclasses.replace(load_inputs(files[0])[0], thresholds=thresholds or {})
    if lead.rank is None:
        return None
    judged_by = {code: dict(values) for code, values in (thresholds or {}).items()}
    found: dict[Path, RankSummary] = {}
    for done, f in enumerate(files):
        tell(folder, done, len(files), "rank summaries")
        summary = _fresh_summary(f, judged_by)
        if summary is not None:
            found[f] = summary
    tell(folder, len(files), len(files), "rank summaries")
    raw = [f for f in files if f not in found]
    others, where = raw, "in this process"
    if raw and raw[0] == files[0]:  # the lead, read already
        found[files[0]] = _with_file(reduce_rank(lead), files[0], 0.0)
        others = raw[1:]
    if others:
        summaries, where = _reduce_files(folder, others, thresholds, workers or _cores())
        found.update(zip(others, summaries, strict=True))
    kept = len(files) - len(raw)
    read = [_count(kept, "rank summary", "rank summaries")] if kept else []
    if raw:
        files_text = _count(len(raw), "rank file", "rank files")
        read.append(f"{files_text} without a fresh summary, reduced {where}")
    return Job(lead, tuple(found[f] for f in files), "; ".join(read))


def _count(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


def _fresh_summary(run_file: Path, judged_by: dict[str, dict[str, float]]) -> RankSummary | None:
    """The rank's summary when it still tells what its run file holds; None when there is
    none or it is stale. A malformed one is an error (RankSummaryError)."""
    path = summary_path(run_file)
    if not path.exists():
        return None
    summary = read_summary(path, source=str(run_file))
    fresh = (
        summary.perfkit == judge_version()
        and summary.run_file == run_file.name
        and summary.run_bytes == run_file.stat().st_size
        and summary.thresholds == judged_by
    )
    return summary if fresh else None


def summarize_file(path: Path, thresholds: Overrides | None = None) -> RankSummary:
    """The summary of a rank's run file and its traces, as they are on disk now."""
    t0 = time.perf_counter()
    size = path.stat().st_size
    ev = dataclasses.replace(load_inputs(path)[0], thresholds=thresholds or {})
    if ev.rank is None:
        raise InputError(f"{path}: not the run file of a rank (it records no rank)")
    return _with_file(reduce_rank(ev), path, time.perf_counter() - t0, size)


def _with_file(
    summary: RankSummary, path: Path, cost_s: float, size: int | None = None
) -> RankSummary:
    """The summary of the run file ``path`` (``size`` bytes when reduced)."""
    size = path.stat().st_size if size is None else size
    cost = round(cost_s, 3)
    return dataclasses.replace(summary, run_file=path.name, run_bytes=size, cost_s=cost)


def _reduce_files(
    folder: Path, files: list[Path], thresholds: Overrides | None, workers: int
) -> tuple[list[RankSummary], str]:
    """The summaries of ``files``, in their order, and where they were made: in a pool of
    worker processes when there are many."""
    if len(files) < POOL_FROM or workers < 2:
        out = []
        for done, f in enumerate(files):
            tell(folder, done, len(files), "rank files")
            out.append(summarize_file(f, thresholds))
        tell(folder, len(files), len(files), "rank files")
        return out, "in this process"
    context = multiprocessing.get_context(_start_method())
    chunk = max(1, len(files) // (workers * 8))
    summaries = []
    with ProcessPoolExecutor(min(workers, len(files)), mp_context=context) as pool:
        judged_by = repeat(dict(thresholds or {}))
        results = pool.map(_summarize_or_say, files, judged_by, chunksize=chunk)
        for done, result in enumerate(results):
            tell(folder, done, len(files), "rank files")
            if isinstance(result, str):
                raise InputError(result)
            summaries.append(result)
    tell(folder, len(files), len(files), "rank files")
    return summaries, f"in {min(workers, len(files))} worker processes"


def _start_method() -> str:
    """How workers start. A fork is quick and runs anywhere: from a script without a
    ``__main__`` guard, from standard input (a fresh interpreter re-runs the main script,
    or cannot find it). But a fork copies the locks other threads hold (the progress bar's),
    so with other threads running, fresh interpreters ("spawn"): the command line's main
    module is guarded, and a notebook's is not re-run."""
    forking = "fork" in multiprocessing.get_all_start_methods()
    return "fork" if forking and threading.active_count() == 1 else "spawn"


def _summarize_or_say(path: Path, thresholds: Overrides) -> RankSummary | str:
    """In a worker: the summary, or the one-line error (an InputError's own arguments do
    not survive pickling)."""
    try:
        return summarize_file(path, thresholds)
    except InputError as e:
        return str(e)


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1
