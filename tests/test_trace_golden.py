"""Every real trace summarizes as it did when the summaries were recorded: a faster reader
must not change a figure. ``tests/data/trace_summaries.json`` holds each TraceSummary's
fields (the timeline as a digest); rewrite it, after checking why it changed, with

    PYTHONPATH=. python tests/test_trace_golden.py
"""

from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path
from typing import Any

import orjson
import pytest

from perfkit.trace import load_trace

TRACES = Path(__file__).resolve().parent / "data" / "traces"
GOLDEN = TRACES.parent / "trace_summaries.json"


def record(path: Path) -> dict[str, Any]:
    """The summary's fields as JSON gives them back, its timeline as a sha256."""
    fields = dataclasses.asdict(load_trace(path))
    del fields["path"]
    timeline = orjson.dumps(fields.pop("timeline"), option=orjson.OPT_SORT_KEYS)
    fields["timeline_sha256"] = hashlib.sha256(timeline).hexdigest()
    return orjson.loads(orjson.dumps(fields))


def traces() -> list[str]:
    return sorted(str(p.relative_to(TRACES)) for p in TRACES.rglob("*.pt.trace.json*"))


def test_every_trace_has_a_recorded_summary():
    assert sorted(orjson.loads(GOLDEN.read_bytes())) == traces()


@pytest.mark.parametrize("name", traces())
def test_the_summary_is_the_recorded_one(name):
    assert record(TRACES / name) == orjson.loads(GOLDEN.read_bytes())[name]


if __name__ == "__main__":
    # One trace a line, so that a change reads as a diff of the traces it touched.
    lines = [
        f"{orjson.dumps(n).decode()}: {orjson.dumps(record(TRACES / n)).decode()}" for n in traces()
    ]
    GOLDEN.write_text("{\n" + ",\n".join(lines) + "\n}\n")
