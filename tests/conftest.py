from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

# One intra-op thread, here and in every process the tests start: on a busy 2-core machine
# torch's spinning worker threads make a 0.4 ms step take 100+ ms now and then, which no
# timing assertion survives.
os.environ.setdefault("OMP_NUM_THREADS", "1")

import torch  # noqa: E402

from perfkit import load_run
from perfkit.capture import state
from perfkit.capture.session import Session
from perfkit.capture.step import profile_step

REPO = Path(__file__).resolve().parent.parent
# Real GPU traces recorded by others (provenance in PROVENANCE.md beside them).
TRACES = REPO / "tests" / "data" / "traces"
# Pages are checked in a real browser where one is installed.
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
PYTHON = sys.executable

# Fast defaults for in-process captures: no profiler window, no sampler thread.
QUICK = {"window": None, "sample_hz": 0, "quiet": True}


def read_run(path: str | os.PathLike[str]) -> SimpleNamespace:
    """A run file as written: loaded and checked by ``load_run``, then its JSON form with the
    top-level keys as attributes (``run.steps[0]["wall_ms"]``). Tests of capture assert on
    what the file holds."""
    run = load_run(path)
    return SimpleNamespace(**run.to_json(), path=run.path)


def capture(
    out: Path,
    step: Callable[[], Any],
    steps: int = 5,
    between: Callable[[], Any] | None = None,
    **options: Any,
) -> SimpleNamespace:
    """Run ``step`` ``steps`` times as decorated steps inside a Session; read the run."""
    with Session(out, **{**QUICK, **options}):
        decorated = profile_step(step)
        for _ in range(steps):
            decorated()
            if between is not None:
                between()
    return read_run(out)


def step_syncs(run: SimpleNamespace, i: int) -> dict[str, Any]:
    return run.steps[i].get("events", {}).get("syncs", {"count": 0, "by_kind": {}, "sites": []})


def step_transfers(run: SimpleNamespace, i: int) -> dict[str, Any]:
    return run.steps[i].get("events", {}).get("transfers", {"totals": {}, "sites": []})


def steps_written(run_file: Path) -> int:
    """Steps in a run file being written by another process (-1 while unreadable)."""
    try:
        return len(json.loads(run_file.read_text())["steps"])
    except (OSError, ValueError, KeyError):
        return -1


def start_forever(out: Path, window: str, *script_args: str, **popen: Any) -> subprocess.Popen:
    """``perfkit run`` on tests/scripts/forever.py (trains until stopped), in the background."""
    cmd = [PYTHON, "-m", "perfkit", "run", "--window", window, "-o", str(out)]
    script = str(REPO / "tests" / "scripts" / "forever.py")
    return subprocess.Popen([*cmd, script, *script_args], **popen)


# Reference-loop runs shared by the tests (each takes seconds): cnn has 24 batches an
# epoch, so 50 steps are three epochs.
REFERENCE_STEPS = {"iris": 40, "cnn": 50}


@pytest.fixture(scope="session")
def reference_run(tmp_path_factory):
    """reference_run(preset, slug_or_None) -> the run as read_run gives it, each captured
    once per test session."""
    from perfkit.reference import run_reference

    cache: dict[tuple, SimpleNamespace] = {}

    def get(preset: str, slug: str | None) -> SimpleNamespace:
        if (preset, slug) not in cache:
            out = tmp_path_factory.mktemp(f"{preset}-{slug or 'clean'}") / "run"
            run_dir, _ = run_reference(
                preset,
                frozenset([slug] if slug else []),
                out=out,
                steps=REFERENCE_STEPS[preset],
                sample_hz=0,
                quiet=True,
            )
            cache[(preset, slug)] = read_run(run_dir)
        return cache[(preset, slug)]

    return get


def perfkit_cli(*args: Any, timeout: float = 300, **kwargs: Any) -> subprocess.CompletedProcess:
    """Run ``python -m perfkit ARGS`` in a fresh process, as a user would (from the
    repository, unless ``cwd`` says where)."""
    return subprocess.run(
        [PYTHON, "-m", "perfkit", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
        **{"cwd": REPO, **kwargs},
    )


@pytest.fixture(autouse=True)
def no_leftover_session():
    """Every test starts and ends without an active session."""
    assert state.session is None
    yield
    leftover = state.session
    if leftover is not None:
        leftover.close()
    assert leftover is None, "a test left a perfkit session active"


@pytest.fixture()
def tiny_model():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 3))
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    x, y = torch.randn(16, 4), torch.randint(0, 3, (16,))
    return model, opt, x, y
