"""PK601 rank-straggler: one rank consistently slower than the others."""

from __future__ import annotations

from perfkit.analysis.evidence import Evidence, NotApplicable
from perfkit.analysis.model import Finding
from perfkit.rules._base import Rule


def check(ev: Evidence) -> list[Finding]:
    raise NotApplicable("needs the runs of several ranks of one job")


RULE = Rule(
    code="PK601",
    slug="rank-straggler",
    title="One rank consistently slower than the others",
    why="Collectives wait for the slowest rank: every other GPU idles for the difference.",
    fix="Find what makes that rank slow (its data shard, its host, its GPU) and even it out.",
    example="# compare per-rank step time: perfkit report RUN_DIR (with one run file per rank)",
    check=check,
    needs="run files or traces of several ranks",
)
