"""Regenerate the sample reports in reports/ (see reports/README.md).

    python reports/regenerate.py            # re-run the reference loops, then render
    python reports/regenerate.py --render   # render from the committed runs only

Run from the repository root: paths in the reports are relative to it.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from pathlib import Path

REPORTS = Path("reports")
RUNS = REPORTS / "runs"
TRACE = Path("tests/data/traces/kineto-resnet50-v100-dataloader-num-workers-0.pt.trace.json.gz")
BEFORE_INJECT = "host-sync,graph-leak,data-starved,eval-grad"


def perfkit(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "perfkit", *args], check=True)


def capture() -> None:
    shutil.rmtree(RUNS, ignore_errors=True)
    common = ["--preset", "cnn", "--steps", "60", "--sample-hz", "2"]
    perfkit("reference", *common, "--inject", BEFORE_INJECT, "-o", str(RUNS / "before"))
    perfkit("reference", *common, "-o", str(RUNS / "after"))


def render() -> list[Path]:
    """Write every sample report; returns the files written."""
    inputs = {"before": RUNS / "before", "after": RUNS / "after", "resnet50-trace": TRACE}
    written = []
    for name, source in inputs.items():
        for fmt, ext in (("markdown", "md"), ("html", "html")):
            out = REPORTS / f"{name}.{ext}"
            perfkit("report", str(source), "-f", fmt, "-o", str(out))
            written.append(out)
    out = REPORTS / "compare.md"
    perfkit(
        "compare", str(inputs["before"]), str(inputs["after"]), "-f", "markdown", "-o", str(out)
    )
    written.append(out)
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--render", action="store_true", help="render from the committed runs")
    args = parser.parse_args()
    if not args.render:
        capture()
    render()


if __name__ == "__main__":
    main()
