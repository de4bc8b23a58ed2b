"""The layers import downwards only: findings, codec <- runmodel <- evidence <- rules <-
analysis <- report, commands. A loop (analysis importing rules importing analysis) is what
this guards against; the run model stays free of torch and capture."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "perfkit"


def perfkit_imports(path: Path) -> set[str]:
    """Every perfkit module a file imports, at any depth of the file (lazy imports too)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("perfkit"):
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("perfkit"))
    return found


def modules(under: str) -> list[Path]:
    target = PACKAGE / under
    return [target] if target.suffix == ".py" else sorted(target.rglob("*.py"))


# (files, packages they must never import)
FORBIDDEN = [
    ("findings.py", ("perfkit.",)),
    # Beside findings, below evidence and rules: the rules declare their thresholds with it.
    ("thresholds.py", ("perfkit.rules", "perfkit.analysis", "perfkit.capture", "perfkit.trace")),
    ("codec.py", ("perfkit.",)),
    ("escape.py", ("perfkit.",)),
    ("runmodel.py", ("perfkit.capture", "perfkit.rules", "perfkit.analysis", "perfkit.trace")),
    ("evidence.py", ("perfkit.rules", "perfkit.analysis", "perfkit.report", "perfkit.commands")),
    ("rules", ("perfkit.analysis", "perfkit.report", "perfkit.commands", "perfkit.capture")),
    ("trace", ("perfkit.rules", "perfkit.analysis", "perfkit.report", "perfkit.commands")),
    ("capture", ("perfkit.rules", "perfkit.analysis", "perfkit.report", "perfkit.commands")),
    ("analysis", ("perfkit.report", "perfkit.commands")),
    ("commands/compare.py", ("perfkit.rules",)),
]


# Display hooks that Jupyter calls (``Report._repr_html_``): the one import upwards, made
# inside the hook, so that importing the data model loads no renderer.
DISPLAY_HOOKS = {("findings.py", "perfkit.report.html")}
# A rank of a job reduces its own run file when capture is over (issue 14: the work spread
# over the job): capture's one call into analysis, made at close, inside the function.
AT_CLOSE = {("capture/summary.py", "perfkit.analysis.rankfiles")}


@pytest.mark.parametrize(("under", "forbidden"), FORBIDDEN, ids=[f[0] for f in FORBIDDEN])
def test_imports_point_downwards(under, forbidden):
    wrong = {
        f"{path.relative_to(PACKAGE)} imports {name}"
        for path in modules(under)
        for name in perfkit_imports(path)
        if any(name == f.rstrip(".") or name.startswith(f) for f in forbidden)
        and (str(path.relative_to(PACKAGE)), name) not in DISPLAY_HOOKS | AT_CLOSE
    }
    assert not wrong, sorted(wrong)


def test_display_hooks_import_lazily():
    for file, name in DISPLAY_HOOKS:
        tree = ast.parse((PACKAGE / file).read_text())
        top = {n.module for n in tree.body if isinstance(n, ast.ImportFrom)}
        assert name not in top and name in perfkit_imports(PACKAGE / file)


def test_the_checker_sees_lazy_imports(tmp_path):
    sample = tmp_path / "m.py"
    sample.write_text("def f():\n    from perfkit.rules import all_rules\n")
    assert perfkit_imports(sample) == {"perfkit.rules"}
