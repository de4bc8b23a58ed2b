"""perfkit: find out why a PyTorch training loop is slow, and what to change.

``profile_step`` and ``Session`` import torch; they load on first use so that
``perfkit --help`` and reading run files stay fast and work without torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from perfkit._version import __version__
from perfkit.runfile import Run, RunFileError, load_run

if TYPE_CHECKING:
    from perfkit.capture.session import Session
    from perfkit.capture.step import profile_step

__all__ = [
    "profile_step",
    "Session",
    "load_run",
    "analyze",
    "compare",
    "Run",
    "RunFileError",
    "__version__",
]


def analyze(
    path: Any,
    select: list[str] | None = None,
    ignore: list[str] | None = None,
    thresholds: dict[str, Any] | None = None,
):
    """The Report for a run directory, run file, trace or folder of traces (no torch needed).

    ``thresholds`` take the shape of ``[tool.perfkit.thresholds]``:
    ``{"warning-share": 0.1, "data-starved": {"min-wait-ms": 5}}``.
    ``report.findings`` are the findings; ``perfkit.report.render(report, "html")`` formats it.
    """
    from perfkit.analysis.rankfiles import report_path
    from perfkit.rules import all_rules, chosen_rules, thresholds_from_table

    tuned = thresholds_from_table(thresholds) if thresholds else None
    chosen = chosen_rules(select, ignore)
    left_out = [r for r in all_rules() if r not in chosen]
    return report_path(path, chosen, left_out, thresholds=tuned)


def compare(
    base: Any,
    new: Any,
    select: list[str] | None = None,
    ignore: list[str] | None = None,
    thresholds: dict[str, Any] | None = None,
):
    """The Comparison of two inputs (each what ``analyze`` takes): the speedup of the median
    step, its change with a 95% noise interval, the phases, the findings fixed, new and
    remaining, and what differs in their setups. A job of several ranks is compared per
    representative (``pairs["slowest rank"]``, ``pairs["median rank"]``), a run or a trace
    as ``pairs[""]``; ``headline`` is the first. ``regressed(pct)`` is the CI gate.
    ``select``, ``ignore`` and ``thresholds`` choose and tune the rules, as for ``analyze``.
    """
    from perfkit.analysis.compare import compare as compare_inputs
    from perfkit.rules import thresholds_from_table

    tuned = thresholds_from_table(thresholds) if thresholds else None
    return compare_inputs(base, new, select, ignore, tuned)


def __getattr__(name: str) -> Any:
    if name == "profile_step":
        from perfkit.capture.step import profile_step

        return profile_step
    if name == "Session":
        from perfkit.capture.session import Session

        return Session
    raise AttributeError(f"module 'perfkit' has no attribute {name!r}")
