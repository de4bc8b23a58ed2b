"""``perfkit rules`` and ``perfkit explain``: the rule catalogue, without loading any run."""

from __future__ import annotations

import click

from perfkit.commands import InputError


@click.command(short_help="List the rule catalogue.")
def rules() -> int:
    """List every rule: code, slug, title and the data it needs.

    \b
    Example:  perfkit rules
    """
    from perfkit.rules import all_rules

    for rule in all_rules():
        click.echo(f"{rule.code}  {rule.slug:<24} {rule.title}")
        click.echo(f"       {'':<24} needs: {rule.reads}")
    return 0


@click.command(short_help="Explain one rule: why it is slow and how to fix it.")
@click.argument("rule")
def explain(rule: str) -> int:
    """Print why RULE (a code like PK101 or a slug like host-sync) is slow and how to fix it.

    \b
    Example:  perfkit explain host-sync
    """
    from perfkit.rules import find_rule

    found = find_rule(rule)
    if found is None:
        raise InputError(f"unknown rule {rule!r}; `perfkit rules` lists them")
    click.echo(f"{found.code} {found.slug}: {found.title}\n")
    click.echo(f"Why it is slow\n  {found.why}\n")
    click.echo(f"Fix\n  {found.fix}\n")
    click.echo("Example")
    for line in found.example.splitlines():
        click.echo(f"  {line}")
    click.echo(f"\nNeeds: {found.reads}")
    return 0
