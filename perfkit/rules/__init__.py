"""The rule catalogue: one module per rule (``pkNNN_slug.py``), each exporting ``RULE``.

Codes and slugs are a public contract: CI configs and ``--ignore`` lists use them. A rule
may be retired, never renumbered.
"""

from __future__ import annotations

import difflib
import importlib
import pkgutil
from functools import cache
from typing import Any

from perfkit.errors import InputError
from perfkit.rules._base import Rule
from perfkit.thresholds import SEVERITY, Threshold, value_of


@cache
def all_rules() -> tuple[Rule, ...]:
    rules = []
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if info.name.startswith("pk"):
            rules.append(importlib.import_module(f"{__name__}.{info.name}").RULE)
    codes = [r.code for r in rules]
    slugs = [r.slug for r in rules]
    assert len(set(codes)) == len(codes) and len(set(slugs)) == len(slugs), "duplicate rule"
    return tuple(rules)


def find_rule(key: str) -> Rule | None:
    """A rule by code (``PK101``, case-insensitive) or slug (``host-sync``)."""
    key = key.strip()
    for rule in all_rules():
        if key.upper() == rule.code or key.lower() == rule.slug:
            return rule
    return None


def select_rules(select: list[str] | None, ignore: list[str] | None) -> tuple[Rule, ...]:
    """Rules matching ``select`` (codes, code prefixes like ``PK1``, or slugs) minus ``ignore``."""

    def matches(rule: Rule, keys: list[str]) -> bool:
        return any(
            rule.slug == k.lower() or rule.code.startswith(k.upper()) for k in keys if k.strip()
        )

    chosen = [r for r in all_rules() if not select or matches(r, select)]
    return tuple(r for r in chosen if not ignore or not matches(r, ignore))


class UnknownRule(InputError, ValueError):
    """A --select/--ignore key that names no rule: bad input to the CLI (exit 2), a
    ValueError to the Python API."""


def chosen_rules(select: list[str] | None, ignore: list[str] | None) -> tuple[Rule, ...]:
    """``select_rules``, once every key is checked: the first unknown one is UnknownRule."""
    unknown = unknown_keys([*(select or ()), *(ignore or ())])
    if unknown:
        raise UnknownRule(unknown_rule_message(unknown[0]))
    return select_rules(select or None, ignore or None)


def unknown_keys(keys: list[str]) -> list[str]:
    return [
        k
        for k in keys
        if k.strip()
        and not any(r.slug == k.lower() or r.code.startswith(k.upper()) for r in all_rules())
    ]


def unknown_rule_message(key: str) -> str:
    """ "unknown rule 'host-synk' (did you mean 'host-sync'?)": codes and slugs alike."""
    names = [name for r in all_rules() for name in (r.code, r.slug)]
    close = difflib.get_close_matches(key.strip(), names, n=1, cutoff=0.6)
    close = close or difflib.get_close_matches(key.strip().upper(), names, n=1, cutoff=0.6)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return f"unknown rule {key!r}{hint}; `perfkit rules` lists them"


def thresholds_from_table(table: dict[str, Any], path: str = "") -> dict[str, dict[str, float]]:
    """``[tool.perfkit.thresholds]`` (of the pyproject.toml at ``path``) checked against the
    thresholds the rules declare: {rule code, or "" for the severity cut-offs: {name:
    value}}. Anything else is an InputError naming the file and the key, with a
    did-you-mean."""
    where = f"{path}: [tool.perfkit.thresholds]" if path else "[tool.perfkit.thresholds]"
    out: dict[str, dict[str, float]] = {}
    for key, value in table.items():
        if not isinstance(value, dict):  # a severity cut-off, for every rule
            out.setdefault("", {})[key] = _checked(SEVERITY, key, value, where, _GLOBAL_HINT)
            continue
        rule = find_rule(key)
        if rule is None:
            if any(t.name == key for t in SEVERITY):
                raise InputError(f"{where} {key} should be a number, not a table")
            raise InputError(f"{where} {unknown_rule_message(key)}")
        if rule.code in out:
            raise InputError(f"{where} {key}: {rule.code} {rule.slug} is given twice")
        table_name = f"{where[: -len(']')]}.{key}]"
        if not rule.thresholds:
            raise InputError(f"{table_name} {rule.code} {rule.slug} has no thresholds to set")
        names = ", ".join(t.name for t in rule.thresholds)
        hint = f"{rule.code} {rule.slug} has {names} (`perfkit explain {rule.slug}`)"
        out[rule.code] = {
            name: _checked(rule.thresholds, name, v, table_name, hint) for name, v in value.items()
        }
    cut = {t.name: value_of(out, "", t) for t in SEVERITY}
    if cut["warning-share"] > cut["error-share"]:
        raise InputError(
            f"{where} warning-share ({cut['warning-share']:g}) should not be above "
            f"error-share ({cut['error-share']:g})"
        )
    return out


_GLOBAL_HINT = (
    "at the top: warning-share, error-share; a rule's own go in [tool.perfkit.thresholds.<rule>]"
)


def _checked(
    declared: tuple[Threshold, ...], name: str, value: object, where: str, hint: str
) -> float:
    """``value`` for the threshold ``name`` among ``declared``, or an InputError."""
    found = next((t for t in declared if t.name == name), None)
    if found is None:
        close = difflib.get_close_matches(name, [t.name for t in declared], n=1, cutoff=0.6)
        mean = f" (did you mean {close[0]!r}?)" if close else ""
        raise InputError(f"{where} {name} is not a threshold{mean}; {hint}")
    problem = found.problem(value)
    if problem:
        raise InputError(f"{where} {name} {problem}")
    return float(value)  # type: ignore[arg-type]
