"""Thresholds a project may tune: the numbers rules judge by, each declared with its rule
(name, default, what it decides), overridden in pyproject.toml as ruff's per-rule settings
are:

    [tool.perfkit.thresholds]
    warning-share = 0.10               # the severity cut-offs, for every rule
    error-share = 0.30

    [tool.perfkit.thresholds.data-starved]   # one rule's own (its slug or its code)
    min-wait-ms = 5

The engine hands the project's values to the rules with the evidence
(``Evidence.thresholds``); a rule reads each through ``RULE.threshold(ev, name)``, so a rule
without overrides judges exactly as before. ``perfkit explain`` and docs/rules.md list
every rule's thresholds and defaults.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from perfkit.findings import ERROR_SHARE, WARNING_SHARE

# {rule code, or "" for the severity cut-offs: {threshold name: value}}: only the values a
# project set; every other threshold keeps its default.
Overrides = Mapping[str, Mapping[str, float]]


@dataclass(frozen=True)
class Threshold:
    """One number a rule judges by that a project may set."""

    name: str  # kebab-case, with its unit where it has one: min-wait-ms, peak-share
    default: float
    meaning: str  # one line: what the number decides
    share: bool = False  # a share (0 to 1); any other threshold is a number >= 0

    def problem(self, value: object) -> str:
        """Why ``value`` cannot be this threshold ("" when it can)."""
        number = isinstance(value, (int, float)) and not isinstance(value, bool)
        if number and 0 <= value <= (1 if self.share else float("inf")):  # type: ignore[operator]
            return ""
        wanted = "a share between 0 and 1" if self.share else "a number >= 0"
        return f"should be {wanted} (default {self.default:g}), not {value!r}"


# The cut-offs between info, warning and error, as shares of step time (findings.py); what
# a finding costs is judged against them by every rule.
SEVERITY = (
    Threshold(
        "warning-share",
        WARNING_SHARE,
        "a finding that costs this share of the step or more is a warning",
        share=True,
    ),
    Threshold(
        "error-share",
        ERROR_SHARE,
        "a finding that costs this share of the step or more is an error",
        share=True,
    ),
)


def value_of(overrides: Overrides, owner: str, threshold: Threshold) -> float:
    """The project's value of ``threshold`` of rule ``owner`` (a code; "" for SEVERITY),
    else its default."""
    return float(overrides.get(owner, {}).get(threshold.name, threshold.default))
