"""The rule catalogue as Markdown, from the rules' docstrings: ``docs/rules.md`` is this
module's output (``make docs``), so the published catalogue never drifts from ``perfkit
explain``. A test compares the two."""

from __future__ import annotations

import re
import sys

from perfkit.escape import md_text
from perfkit.rules import all_rules
from perfkit.rules._base import SECTIONS, Rule
from perfkit.thresholds import SEVERITY, Threshold

HEADER = """# Rule catalogue

Generated from each rule's docstring (`perfkit/rules/pkNNN_slug.py`) by `make docs`; do not
edit by hand. `perfkit rules` lists the same rules, `perfkit explain CODE` prints one.
Codes and slugs are a public contract (CI configs and `--ignore` lists use them): a rule may
be retired, never renumbered.

## Thresholds

Some rules judge by numbers a project may set, in `pyproject.toml` (each rule's are listed
under it; `perfkit explain CODE` shows them too). The severity cut-offs, shares of step time,
apply to every rule:

{severity}

```toml
[tool.perfkit.thresholds]
warning-share = 0.10            # a finding that costs 10% of the step or more is a warning
error-share = 0.30

[tool.perfkit.thresholds.data-starved]   # a rule's own: its slug or its code
min-wait-ms = 5
```

An unknown rule or threshold, or a value out of range, is an error naming the file and the
key (exit 2). The report's header lists the thresholds the project set, and a finding's
`evidence` carries those of its rule.

## Rules
"""
# Docstring prose is Markdown-like: its code spans stay, the rest renders literally
# (`non_blocking=True` or `__getitem__` outside a span would turn into emphasis).
_CODE_SPAN = re.compile(r"(`[^`\n]+`)")
_PUNCT = re.compile(r"([\\*_\[\]<>])")


def markdown() -> str:
    rules = all_rules()
    header = HEADER.format(severity="\n".join(_threshold_table(SEVERITY)))
    lines = [header, "| code | slug | title | needs |", "|---|---|---|---|"]
    lines += [
        f"| [{r.code}](#{_anchor(r)}) | {r.slug} | {md_text(r.title)} | {md_text(r.reads)} |"
        for r in rules
    ]
    for rule in rules:
        lines += ["", f"## {rule.code} {rule.slug}", "", f"**{md_text(rule.title)}.**", ""]
        lines.append(f"Needs: {md_text(rule.reads)}. Judges {rule.scope.value}.")
        if rule.thresholds:
            lines += ["", f"Thresholds (`[tool.perfkit.thresholds.{rule.slug}]`):", ""]
            lines += _threshold_table(rule.thresholds)
        for name, attr in SECTIONS.items():
            text = getattr(rule, attr)
            body = f"```python\n{text}\n```" if attr == "example" else _prose(text)
            lines += ["", f"### {name}", "", body]
    return "\n".join(lines) + "\n"


def _threshold_table(thresholds: tuple[Threshold, ...]) -> list[str]:
    return ["| threshold | default | what it decides |", "|---|---|---|"] + [
        f"| `{t.name}` | {t.default:g} | {md_text(t.meaning)} |" for t in thresholds
    ]


def _anchor(rule: Rule) -> str:
    """GitHub's heading anchor for ``## PK101 host-sync``."""
    return f"{rule.code.lower()}-{rule.slug}"


def _prose(text: str) -> str:
    """Paragraphs as Markdown; the indented blocks a docstring keeps (trace excerpts) fenced."""
    return "\n\n".join(
        f"```text\n{p}\n```" if "\n" in p else _inline(p) for p in text.split("\n\n")
    )


def _inline(para: str) -> str:
    return "".join(
        s if _CODE_SPAN.fullmatch(s) else _PUNCT.sub(r"\\\1", s) for s in _CODE_SPAN.split(para)
    )


if __name__ == "__main__":
    sys.stdout.write(markdown())
