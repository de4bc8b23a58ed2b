"""TensorBoard on loopback against a reference run: the profiler plugin serves the run and
its overview, the scalars plugin lists perfkit's tags; screenshots when Chromium is here."""

from __future__ import annotations

import importlib.util
import json
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from perfkit.commands.tensorboard import free_port
from tests.conftest import CHROMIUM, REPO

pytestmark = pytest.mark.skipif(
    any(importlib.util.find_spec(m) is None for m in ("tensorboard", "torch_tb_profiler")),
    reason="install perfkit[tensorboard]",
)
ARTIFACTS = REPO / "test-artifacts"


def get(port: int, path: str):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as r:
        return json.loads(r.read())


def start(run_dir: Path) -> tuple[int, subprocess.Popen]:
    """`perfkit tensorboard RUN_DIR` on a free port, once the profiler plugin has the run."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "perfkit", "tensorboard", str(run_dir), "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
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


@pytest.fixture(scope="module")
def server(reference_run):
    run_dir = Path(reference_run("iris", None).path).parent
    port, proc = start(run_dir)
    yield port, proc, run_dir
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=30)


def test_profiler_plugin_serves_the_run_worker_and_overview(server):
    port, _, _ = server
    assert get(port, "/data/plugin/pytorch_profiler/runs")["runs"] == ["traces"]
    assert "Overview" in get(port, "/data/plugin/pytorch_profiler/views?run=traces")
    [worker] = get(port, "/data/plugin/pytorch_profiler/workers?run=traces&view=Overview")
    [span] = get(port, f"/data/plugin/pytorch_profiler/spans?run=traces&worker={worker}")
    overview = get(
        port, f"/data/plugin/pytorch_profiler/overview?run=traces&worker={worker}&span={span}"
    )
    assert len(overview["steps"]["rows"]) == 3  # the window's three active steps


def test_scalars_plugin_lists_perfkits_tags(server):
    port, _, _ = server
    tags = get(port, "/data/plugin/scalars/tags")["traces"]
    assert {"perfkit/step_ms", "perfkit/data_wait_ms", "perfkit/syncs", "perfkit/transfers"} <= set(
        tags
    )
    points = get(port, "/data/plugin/scalars/scalars?run=traces&tag=perfkit/step_ms")
    assert len(points) == 40  # one per step of the reference run


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


def test_sigterm_stops_tensorboard_with_perfkit(reference_run):
    """Stopped by SIGTERM, `perfkit tensorboard` takes TensorBoard with it, then ends as
    the signal says."""
    import psutil

    port, proc = start(Path(reference_run("iris", None).path).parent)
    children = psutil.Process(proc.pid).children(recursive=True)
    assert children, "TensorBoard runs as a child process"
    sent = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGTERM
    assert time.monotonic() - sent < 6  # TensorBoard took 10 s over SIGTERM alone
    _, alive = psutil.wait_procs(children, timeout=15)
    assert not alive, "TensorBoard still serves after perfkit was stopped"
    with pytest.raises(OSError):
        get(port, "/data/plugin/pytorch_profiler/runs")
