"""Report-only use (reading run files and traces: a CI job, a laptop without CUDA) imports
neither torch nor matplotlib, which take seconds to load; the HTML report draws its
charts as SVG without either."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.conftest import REPO

# Runs each way of report-only use in one fresh process and lists, after each, the torch
# and matplotlib modules loaded so far: the first step to list one is the one that pulls it in.
PROBE = r"""
import contextlib, io, json, sys

import perfkit
from perfkit.cli import main
from perfkit.report import render

run, after, trace, out = sys.argv[1:]


def cli(*args):
    with contextlib.redirect_stdout(io.StringIO()):
        try:
            main(list(args))
        except SystemExit as e:
            assert e.code == 0, (args, e.code)


steps = {
    "perfkit --help": lambda: cli("--help"),
    "report (terminal)": lambda: cli("report", run),
    "report -f json": lambda: cli("report", run, "-f", "json"),
    "report -f markdown -o": lambda: cli("report", run, "-o", out),
    "report TRACE -f json": lambda: cli("report", trace, "-f", "json"),
    "compare": lambda: cli("compare", run, after, "-f", "markdown"),
    "rules": lambda: cli("rules"),
    "explain": lambda: cli("explain", "PK301"),
    "perfkit.load_run": lambda: perfkit.load_run(run),
    "perfkit.analyze + render": lambda: render(perfkit.analyze(trace), "markdown"),
    "render html": lambda: render(perfkit.analyze(run), "html"),
    # Last, to show the probe sees a module when one is loaded.
    "perfkit.Session": lambda: perfkit.Session,
}
loaded = {}
for name, step in steps.items():
    step()
    loaded[name] = sorted(m for m in sys.modules if m.split(".")[0] in {"torch", "matplotlib"})
print(json.dumps(loaded))
"""
TRACE = REPO / "tests/data/traces/hta-amd-mi250-rocm-minitoy-train.pt.trace.json.gz"


@pytest.mark.slow
def test_report_only_use_imports_neither_torch_nor_matplotlib(tmp_path):
    runs = REPO / "reports" / "runs"
    args = [runs / "before", runs / "after", TRACE, tmp_path / "report.md"]
    out = subprocess.run(
        [sys.executable, "-c", PROBE, *map(str, args)],
        capture_output=True,
        text=True,
        check=True,
        cwd=REPO,
        timeout=120,
    )
    loaded = json.loads(out.stdout)
    capture = loaded.pop("perfkit.Session")
    assert {step: mods for step, mods in loaded.items() if mods} == {}
    assert "torch" in capture  # capture does need torch: the probe sees it
