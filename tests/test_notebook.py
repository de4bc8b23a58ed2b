"""notebooks/quickstart.ipynb runs top to bottom, and is committed with its outputs."""

from __future__ import annotations

import importlib.util
import shutil

import pytest

from tests.conftest import REPO

NOTEBOOK = REPO / "notebooks" / "quickstart.ipynb"
pytestmark = pytest.mark.skipif(
    any(importlib.util.find_spec(m) is None for m in ("nbclient", "nbformat", "ipykernel")),
    reason="install perfkit[notebook]",
)


def _text(nb) -> str:
    return "\n".join(
        o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
    )


def test_committed_notebook_has_its_outputs():
    import nbformat

    nb = nbformat.read(NOTEBOOK, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(c.get("execution_count") for c in code)
    assert not any(o.output_type == "error" for c in code for o in c.outputs)
    assert "findings fixed: PK101 host-sync, PK201 graph-leak, PK401 launch-bound" in _text(nb)


def test_notebook_executes(tmp_path):
    import nbformat
    from nbclient import NotebookClient

    copy = tmp_path / NOTEBOOK.name
    shutil.copy(NOTEBOOK, copy)
    nb = nbformat.read(copy, as_version=4)
    NotebookClient(
        nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    ).execute()
    text = _text(nb)
    assert "PK401 launch-bound" in text and "No problems found." in text
    assert "findings fixed: PK101 host-sync, PK201 graph-leak, PK401 launch-bound" in text
    speedup = float(text.split("speedup: ")[1].split("x")[0])
    assert speedup > 5  # one sample at a time is far slower than the batched loss
