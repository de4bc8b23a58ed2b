"""reports/ matches what the current code renders from the committed runs.

Regenerate with `make reports` (re-runs the loops) or `python reports/regenerate.py
--render` (re-renders the committed runs) after changing a rule or a renderer.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.conftest import REPO, TRACES

TRACE = TRACES / "kineto-resnet50-v100-dataloader-num-workers-0.pt.trace.json.gz"
SOURCES = {
    "before": "reports/runs/before",
    "after": "reports/runs/after",
    "resnet50-trace": str(TRACE.relative_to(REPO)),
}


def rendered(*args: str) -> str:
    out = subprocess.run(
        [sys.executable, "-m", "perfkit", *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        check=True,
    )
    return out.stdout


@pytest.mark.parametrize("name", sorted(SOURCES))
@pytest.mark.parametrize("fmt", ["md", "html"])
def test_sample_report_is_current(name, fmt):
    committed = (REPO / "reports" / f"{name}.{fmt}").read_text()
    now = rendered("report", SOURCES[name], "-f", "markdown" if fmt == "md" else "html")
    assert now == committed, f"reports/{name}.{fmt} is stale: python reports/regenerate.py --render"


def test_sample_compare_is_current_and_shows_the_fix():
    committed = (REPO / "reports" / "compare.md").read_text()
    now = rendered("compare", SOURCES["before"], SOURCES["after"], "-f", "markdown")
    assert now == committed
    assert "(the new run is faster)" in now and "PK301 data-starved" in now
