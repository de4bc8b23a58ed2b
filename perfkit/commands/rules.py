"""``perfkit rules`` and ``perfkit explain``: the rule catalogue, without loading any run."""

from __future__ import annotations

import shutil
import textwrap

import click

from perfkit.commands import InputError


@click.command(short_help="List the rule catalogue.")
def rules() -> int:
    """List every rule: code, slug, title and the data it needs.

    \b
    Example:  perfkit rules
    """
    from perfkit.rules import all_rules
    from perfkit.thresholds import SEVERITY

    for rule in all_rules():
        click.echo(f"{rule.code}  {rule.slug:<24} {rule.title}")
        click.echo(f"       {'':<24} needs: {rule.reads}")
        if rule.thresholds:
            click.echo(f"       {'':<24} thresholds: {_values(rule.thresholds)}")
    click.echo(f"\nSeverity cut-offs, for every rule: {_values(SEVERITY)}.")
    click.echo("Set thresholds in [tool.perfkit.thresholds] of pyproject.toml (perfkit explain).")
    return 0


def _values(thresholds) -> str:
    return ", ".join(f"{t.name} {t.default:g}" for t in thresholds)


@click.command(short_help="Explain one rule: what it detects, why it is slow, the fix.")
@click.argument("rule")
def explain(rule: str) -> int:
    """Print what RULE (a code like PK101 or a slug like host-sync) detects, why it is slow,
    an example, the fix and how its saving is estimated.

    \b
    Example:  perfkit explain host-sync
    """
    from perfkit.rules import find_rule, unknown_rule_message
    from perfkit.rules._base import SECTIONS

    found = find_rule(rule)
    if found is None:
        raise InputError(unknown_rule_message(rule))
    width = min(shutil.get_terminal_size().columns, 100) - 2
    click.echo(f"{found.code} {found.slug}: {found.title}")
    for name, attr in SECTIONS.items():
        click.echo(f"\n{name}")
        click.echo(_indented(getattr(found, attr), width, code=attr == "example"))
    click.echo(f"\nReads\n  {found.reads}")
    if found.thresholds:
        click.echo(f"\nThresholds ([tool.perfkit.thresholds.{found.slug}] in pyproject.toml)")
        for t in found.thresholds:
            said = f"{t.name} = {t.default:g}: {t.meaning}"
            click.echo(textwrap.fill(said, width, initial_indent="  ", subsequent_indent="    "))
    return 0


def _indented(text: str, width: int, code: bool) -> str:
    """Prose wrapped to the terminal, two spaces in; code blocks four spaces in, as written."""
    if code:
        return textwrap.indent(text, "    ")
    out = []
    for para in text.split("\n\n"):
        if "\n" in para:  # an indented block kept from the docstring
            out.append(textwrap.indent(para, "    "))
        else:
            out.append(
                textwrap.fill(
                    para, width, initial_indent="  ", subsequent_indent="  ", break_on_hyphens=False
                )
            )
    return "\n\n".join(out)
