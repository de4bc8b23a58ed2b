"""``[tool.perfkit]`` in pyproject.toml: a project's defaults, found as ruff and pytest find
theirs, in the nearest pyproject.toml (from the current directory up) that has the table.

    [tool.perfkit]
    select = ["PK1", "PK3"]      # rules, as --select takes them
    ignore = ["empty-cache"]
    fail-on = "error"            # report's --fail-on
    output = "runs"              # the folder default run directories go in (perfkit-runs)

    [tool.perfkit.thresholds]    # the numbers rules judge by (perfkit/thresholds.py)
    warning-share = 0.1
    [tool.perfkit.thresholds.data-starved]
    min-wait-ms = 5

Options given on the command line win. A bad table is an error naming the file and the
key (exit 2), never a traceback.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from perfkit.errors import InputError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

SEVERITIES = ("info", "warning", "error")


@dataclass(frozen=True)
class Config:
    select: tuple[str, ...] = ()
    ignore: tuple[str, ...] = ()
    fail_on: str | None = None
    output: str | None = None
    path: str = ""  # the pyproject.toml it came from ("" when none)
    # {rule code, or "" for the severity cut-offs: {name: value}}, checked against the rules
    thresholds: dict[str, dict[str, float]] = field(default_factory=dict)


def load_config(start: str | Path | None = None, *, thresholds: bool = True) -> Config:
    """The ``[tool.perfkit]`` table of the nearest pyproject.toml that has one. Without
    ``thresholds`` (capture, which judges nothing) the thresholds are left unread, so that
    the rules they are checked against are not loaded."""
    here = Path(start or Path.cwd()).absolute()
    for folder in (here, *here.parents):
        candidate = folder / "pyproject.toml"
        if candidate.is_file():
            table = _table(candidate)
            if table is not None:
                return _config(table, candidate, thresholds)
    return Config()


def _table(path: Path) -> dict[str, Any] | None:
    try:
        with path.open("rb") as f:
            data = tomllib.load(f)
    except (OSError, tomllib.TOMLDecodeError) as e:
        raise InputError(f"{path}: cannot read it ({e})") from None
    table = data.get("tool", {}).get("perfkit") if isinstance(data.get("tool"), dict) else None
    if table is not None and not isinstance(table, dict):
        raise InputError(f"{path}: [tool.perfkit] should be a table")
    return table


def _config(table: dict[str, Any], path: Path, read_thresholds: bool) -> Config:
    def fail(key: str, why: str) -> InputError:
        return InputError(f"{path}: [tool.perfkit] {key} {why}")

    unknown = sorted(set(table) - {"select", "ignore", "fail-on", "output", "thresholds"})
    if unknown:
        raise fail(unknown[0], "is not a setting (select, ignore, fail-on, output, thresholds)")
    lists = {}
    for key in ("select", "ignore"):
        value = table.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise fail(key, 'should be a list of rule codes or slugs, e.g. ["PK101"]')
        lists[key] = tuple(value)
    fail_on = table.get("fail-on")
    if fail_on is not None and fail_on not in SEVERITIES:
        raise fail("fail-on", f"should be one of {', '.join(SEVERITIES)}")
    output = table.get("output")
    if output is not None and (not isinstance(output, str) or not output):
        raise fail("output", "should be a folder name")
    if read_thresholds and (lists["select"] or lists["ignore"]):
        # Where a report judges, a misspelt rule is named with its file, not silently dropped.
        from perfkit.rules import unknown_keys, unknown_rule_message

        for key in ("select", "ignore"):
            unknown_rule = unknown_keys(list(lists[key]))
            if unknown_rule:
                raise fail(key, f"has an {unknown_rule_message(unknown_rule[0])}")
    thresholds = table.get("thresholds", {})
    if not isinstance(thresholds, dict):
        raise fail("thresholds", "should be a table: [tool.perfkit.thresholds]")
    if thresholds and read_thresholds:
        # Checked against the rules' own declarations, so the rules are loaded here.
        from perfkit.rules import thresholds_from_table

        thresholds = thresholds_from_table(thresholds, str(path))
    elif not read_thresholds:
        thresholds = {}
    return Config(lists["select"], lists["ignore"], fail_on, output, str(path), thresholds)
