"""Does perfkit give the same verdict run after run? Each realistic script, several times.

Every script in tests/scripts/realistic/ (the anti-patterns and their clean twins) is
captured with ``perfkit run --window off`` ``--runs`` times; the set of rules reported at
warning or error must be the same every time. Prints one line per script and exits 1 when
any verdict changed.

    python bench/determinism.py [--runs 5] [--only NAME[,NAME]] [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SCRIPTS = REPO / "tests" / "scripts" / "realistic"
LOUD = ("warning", "error")


def verdict(script: Path, out: Path) -> tuple[str, ...]:
    """The rules at warning or error for one capture of ``script``."""
    run = [sys.executable, "-m", "perfkit", "run", "--window", "off", "-o", str(out), "--force"]
    subprocess.run([*run, str(script)], check=True, capture_output=True, cwd=REPO)
    report = subprocess.run(
        [sys.executable, "-m", "perfkit", "report", str(out), "-f", "json"],
        check=True,
        capture_output=True,
        text=True,
    )
    findings = json.loads(report.stdout)["findings"]
    return tuple(sorted({f["rule"] for f in findings if f["severity"] in LOUD}))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--only", help="script names without .py, comma-separated")
    parser.add_argument("--json", type=Path, help="also write the verdicts here")
    args = parser.parse_args()
    names = sorted(p.stem for p in SCRIPTS.glob("*.py"))
    if args.only:
        names = [n for n in names if n in args.only.split(",")]
    results, changed = {}, []
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            verdicts = [verdict(SCRIPTS / f"{name}.py", Path(tmp) / name) for _ in range(args.runs)]
            results[name] = [list(v) for v in verdicts]
            same = len(set(verdicts)) == 1
            if not same:
                changed.append(name)
            shown = ", ".join(verdicts[0]) or "(none)"
            if not same:
                shown = " | ".join(", ".join(v) or "(none)" for v in verdicts)
            print(f"{'same   ' if same else 'CHANGED'} {name:28} {shown}", flush=True)
    print(
        f"{len(names) - len(changed)}/{len(names)} scripts gave the same verdict {args.runs} times"
    )
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 1 if changed else 0


if __name__ == "__main__":
    sys.exit(main())
