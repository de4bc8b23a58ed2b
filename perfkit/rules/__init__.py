"""The rule catalogue: one module per rule (``pkNNN_slug.py``), each exporting ``RULE``.

Codes and slugs are a public contract: CI configs and ``--ignore`` lists use them. A rule
may be retired, never renumbered.
"""

from __future__ import annotations

import difflib
import importlib
import pkgutil
from functools import cache

from perfkit.rules._base import Rule


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
