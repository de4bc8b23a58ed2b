"""Each rule's docstring is the one source of its documentation: parsed into the rule,
printed by ``perfkit explain``, complete, and with an example that is real code."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from perfkit.rules import all_rules, catalogue
from perfkit.rules._base import SECTIONS, RuleDocError, parse_doc
from tests.conftest import REPO, perfkit_cli

RULES = all_rules()


@pytest.mark.parametrize("rule", RULES, ids=[r.code for r in RULES])
def test_every_section_is_there_and_the_header_matches_the_file(rule):
    module = Path(rule.check.__code__.co_filename).stem
    assert module == f"{rule.code.lower()}_{rule.slug.replace('-', '_')}"
    for attr in SECTIONS.values():
        assert len(getattr(rule, attr)) > 20, f"{rule.code}: {attr} is too short to help"


@pytest.mark.parametrize("rule", RULES, ids=[r.code for r in RULES])
def test_the_example_is_code_before_and_after(rule):
    ast.parse(rule.example)
    before, _, after = rule.example.partition("# after")
    assert before.startswith("# before") and after.strip()


def test_a_missing_section_or_header_is_an_error_naming_it():
    doc = RULES[0].doc
    with pytest.raises(RuleDocError, match="## Saving"):
        parse_doc(doc.split("## Saving")[0])
    with pytest.raises(RuleDocError, match="first line"):
        parse_doc("host-sync: no code\n\n" + doc.partition("\n")[2])


def test_prose_is_unwrapped_and_blocks_keep_their_lines():
    parsed = parse_doc(
        "PK999 made-up: A title.\n\n## What it detects\nOne ``thing``\nwrapped.\n\n"
        "    block line 1\n      line 2\n\n## Why it is slow\nx\n\n## Example\n\n    # before\n"
        "    a()\n    # after\n    b()\n\n## Fix\nf\n\n## Saving\ns\n"
    )
    assert parsed["title"] == "A title"
    assert parsed["detects"] == "One `thing` wrapped.\n\nblock line 1\n  line 2"
    assert parsed["example"] == "# before\na()\n# after\nb()"


@pytest.mark.slow
def test_explain_prints_every_section():
    out = perfkit_cli("explain", "launch-bound").stdout
    for name in [*SECTIONS, "Reads"]:
        assert f"\n{name}\n" in out
    assert "per-op overhead" in out.lower()


def test_docs_rules_md_is_the_catalogue_generated_from_the_docstrings():
    published = (REPO / "docs" / "rules.md").read_text()
    assert published == catalogue.markdown(), "docs/rules.md is stale: run `make docs`"
    assert all(f"## {r.code} {r.slug}\n" in published for r in RULES)
