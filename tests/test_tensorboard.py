"""TensorBoard on loopback against a reference run: the profiler plugin serves the run and
its overview, the scalars plugin lists perfkit's tags, both under the run directory's name,
and the ranks of a job are runs of their own; screenshots when Chromium is here."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import torch

from perfkit.capture.session import Session
from perfkit.capture.step import profile_step
from perfkit.commands.tensorboard import free_port
from tests.conftest import CHROMIUM, QUICK, REPO

pytestmark = pytest.mark.skipif(
    any(importlib.util.find_spec(m) is None for m in ("tensorboard", "torch_tb_profiler")),
    reason="install perfkit[tensorboard]",
)
ARTIFACTS = REPO / "test-artifacts"


def get(port: int, path: str):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as r:
        return json.loads(r.read())


def start(run_dir: Path, **popen: Any) -> tuple[int, subprocess.Popen]:
    """`perfkit tensorboard RUN_DIR` on a free port, once the profiler plugin has the run."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "perfkit", "tensorboard", str(run_dir), "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **popen,
    )
    deadline = time.monotonic() + 120
    while True:
        try:
            runs = get(port, "/data/plugin/pytorch_profiler/runs")
            if runs["runs"] and not runs["loading"]:
                break
        except OSError:
            pass
        assert proc.poll() is None and time.monotonic() < deadline, "TensorBoard did not start"
        time.sleep(0.5)
    return port, proc


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=30)


@pytest.fixture(scope="module")
def server(reference_run, tmp_path_factory):
    """`perfkit tensorboard` on one run directory, named as users name theirs."""
    run_dir = tmp_path_factory.mktemp("runs") / "iris-demo"
    shutil.copytree(Path(reference_run("iris", None).path).parent, run_dir)
    port, proc = start(run_dir)
    yield port, proc, run_dir
    stop(proc)


def test_profiler_plugin_serves_the_run_worker_and_overview(server):
    """The run is named after the run directory (issue 15: it was "traces")."""
    port, _, _ = server
    assert get(port, "/data/plugin/pytorch_profiler/runs")["runs"] == ["iris-demo"]
    assert "Overview" in get(port, "/data/plugin/pytorch_profiler/views?run=iris-demo")
    [worker] = get(port, "/data/plugin/pytorch_profiler/workers?run=iris-demo&view=Overview")
    [span] = get(port, f"/data/plugin/pytorch_profiler/spans?run=iris-demo&worker={worker}")
    overview = get(
        port, f"/data/plugin/pytorch_profiler/overview?run=iris-demo&worker={worker}&span={span}"
    )
    assert len(overview["steps"]["rows"]) == 3  # the window's three active steps


def test_scalars_plugin_lists_perfkits_tags(server):
    port, _, _ = server
    tags = get(port, "/data/plugin/scalars/tags")
    assert list(tags) == ["iris-demo"]  # the run directory's name, not "." nor "traces"
    assert {"perfkit/step_ms", "perfkit/data_wait_ms", "perfkit/syncs", "perfkit/transfers"} <= set(
        tags["iris-demo"]
    )
    points = get(port, "/data/plugin/scalars/scalars?run=iris-demo&tag=perfkit/step_ms")
    assert len(points) == 40  # one per step of the reference run


def _rank_of_a_job(run_dir: Path, rank: int) -> None:
    """What rank ``rank`` of a two-rank torchrun job writes (torchrun's variables, in
    process: the layout is the point here, not the collectives)."""
    with pytest.MonkeyPatch.context() as env:
        env.setenv("WORLD_SIZE", "2")
        env.setenv("RANK", str(rank))
        with Session(run_dir, **{**QUICK, "window": (1, 0, 2)}):
            step = profile_step(lambda: torch.ones(64, 64) @ torch.ones(64, 64))
            for _ in range(6):
                step()


@pytest.fixture(scope="module")
def job(tmp_path_factory):
    """`perfkit tensorboard` on a folder of runs holding a two-rank job."""
    runs = tmp_path_factory.mktemp("runs")
    for rank in (0, 1):
        _rank_of_a_job(runs / "job", rank)
    port, proc = start(runs)
    yield port
    stop(proc)


def test_ranks_of_a_job_are_runs_whose_scalars_overlay(job):
    """Issue 15: each rank is a run of its own under the run directory, with the same tags,
    so that the Scalars dashboard draws the ranks' curves on one chart."""
    tags = get(job, "/data/plugin/scalars/tags")
    assert sorted(tags) == ["job/rank0", "job/rank1"]
    assert set(tags["job/rank0"]) == set(tags["job/rank1"]) >= {"perfkit/step_ms"}
    for run in tags:
        points = get(job, f"/data/plugin/scalars/scalars?run={run}&tag=perfkit/step_ms")
        assert len(points) == 6
    # The traces of all ranks make one profiler run, whose workers its Distributed view
    # compares.
    assert get(job, "/data/plugin/pytorch_profiler/runs")["runs"] == ["job"]


@pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed")
def test_scalars_dashboard_and_html_report_render_in_chromium(server, tmp_path):
    port, _, run_dir = server
    ARTIFACTS.mkdir(exist_ok=True)
    html = tmp_path / "report.html"
    subprocess.run(
        [sys.executable, "-m", "perfkit", "report", str(run_dir), "-o", str(html)],
        check=True,
        capture_output=True,
    )
    for name, url in (
        ("tensorboard-scalars.png", f"http://127.0.0.1:{port}/#timeseries"),
        ("report.png", html.as_uri()),
    ):
        shot = ARTIFACTS / name
        subprocess.run(
            [
                CHROMIUM,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                f"--user-data-dir={tmp_path / 'profile'}",
                "--window-size=1400,1000",
                "--virtual-time-budget=10000",
                f"--screenshot={shot}",
                url,
            ],
            check=True,
            capture_output=True,
            timeout=120,
        )
        assert shot.stat().st_size > 20_000  # a real page, not a blank one


def test_ctrl_c_stops_tensorboard_cleanly(server):
    port, proc, _ = server
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0 and "TensorBoard stopped" in out
    with pytest.raises(OSError):
        get(port, "/data/plugin/pytorch_profiler/runs")


def test_missing_directory_is_one_line(capsys):
    from tests.test_cli import invoke

    code, _, err = invoke(capsys, "tensorboard", "/nonexistent/runs")
    assert code == 2 and "not a directory" in err and err.count("\n") == 1


def test_sigterm_stops_tensorboard_with_perfkit(reference_run, tmp_path):
    """Stopped by SIGTERM, `perfkit tensorboard` takes TensorBoard with it, then ends as
    the signal says, leaving no temporary folder behind."""
    import psutil

    temp = tmp_path / "temp"
    temp.mkdir()
    env = {**os.environ, "TMPDIR": str(temp)}
    port, proc = start(Path(reference_run("iris", None).path).parent, env=env)
    assert len(list(temp.glob("perfkit-tb-*"))) == 1  # where the run's link is
    children = psutil.Process(proc.pid).children(recursive=True)
    assert children, "TensorBoard runs as a child process"
    sent = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGTERM
    assert time.monotonic() - sent < 6  # TensorBoard took 10 s over SIGTERM alone
    _, alive = psutil.wait_procs(children, timeout=15)
    assert not alive, "TensorBoard still serves after perfkit was stopped"
    assert not list(temp.glob("perfkit-tb-*"))
    with pytest.raises(OSError):
        get(port, "/data/plugin/pytorch_profiler/runs")
