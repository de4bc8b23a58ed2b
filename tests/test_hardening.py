"""The training run comes first: Ctrl-C, process exit and DataLoader workers.

Each test runs a real script in a fresh process, as users run them."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from perfkit.trace import load_trace
from tests.conftest import REPO, read_run, start_forever, steps_written

SCRIPTS = REPO / "tests" / "scripts"


def _signal_when_running(
    proc: subprocess.Popen, run_file, steps: int, signum: int = signal.SIGINT
) -> tuple[float, int]:
    """Wait until the run file holds ``steps`` steps (0: until it exists, then 4 s more),
    send ``signum``; return when it was sent and how many steps the file held then."""
    deadline = time.monotonic() + 60
    while (written := steps_written(run_file)) < steps:
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "the run never wrote its steps"
        time.sleep(0.1)
    if not steps:
        time.sleep(4)  # the first step opens the profiler: ~2 s on a slow machine
    proc.send_signal(signum)
    return time.monotonic(), written


@pytest.mark.parametrize(
    ("window", "pause", "steps"),
    # The window records for 200 s; run files are not rewritten while it does.
    [("off", "0.01", 10), ("0,0,1000", "0.2", 0)],
    ids=["training", "profiler recording"],
)
def test_ctrl_c_under_perfkit_run_stops_at_once_and_saves_the_run(tmp_path, window, pause, steps):
    out = tmp_path / "run"
    proc = start_forever(out, window, pause, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    sent, _ = _signal_when_running(proc, out / "run.json", steps)
    proc.wait(timeout=30)
    elapsed = time.monotonic() - sent
    assert proc.returncode == 130
    assert elapsed < 10, f"took {elapsed:.1f} s to stop after Ctrl-C"  # ~1 s unloaded
    run = read_run(out)
    assert run.complete and run.env["error"].startswith("KeyboardInterrupt")
    assert len(run.steps) >= max(steps, 1)
    if window != "off":  # the steps recorded so far are kept as a trace, and it reads
        (trace,) = out.glob("*.pt.trace.json.gz")
        assert load_trace(trace).steps


def test_ctrl_c_in_a_decorated_script_is_the_users_interrupt(tmp_path):
    """The KeyboardInterrupt reaches the user unchanged (Python's own exit), the run is saved."""
    out = tmp_path / "run"
    proc = subprocess.Popen(
        [sys.executable, str(SCRIPTS / "decorated_forever.py"), str(out)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    sent, _ = _signal_when_running(proc, out / "run.json", 10)
    _, stderr = proc.communicate(timeout=30)
    assert time.monotonic() - sent < 10
    assert proc.returncode in (-signal.SIGINT, 130, 1)  # as Python itself exits on Ctrl-C
    assert stderr.rstrip().endswith("KeyboardInterrupt"), stderr
    assert 'decorated_forever.py", line' in stderr  # the user's frames, not perfkit's
    assert read_run(out).complete


def test_an_open_session_and_a_slow_sampler_do_not_delay_exit(tmp_path):
    """Never closed, sampling every 20 s, profiler window recording: exit takes well under
    one sampling period (it stops the window, exports its trace and writes the run)."""
    out = tmp_path / "run"
    result = subprocess.run(
        [sys.executable, str(SCRIPTS / "slow_sampler.py"), str(out)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    ended = time.time()
    assert result.returncode == 0, result.stderr
    last_step = float(result.stdout.split("last step at ")[1])
    assert ended - last_step < 10.0, f"exit took {ended - last_step:.1f} s"
    run = read_run(out)
    assert run.complete and len(run.steps) == 30


@pytest.mark.parametrize("context", ["fork", "spawn"])
@pytest.mark.parametrize("launch", ["perfkit run", "Session in the script"])
def test_dataloader_workers_never_record_sample_or_write(tmp_path, context, launch):
    marks = tmp_path / "marks"
    marks.mkdir()
    workdir = tmp_path / "cwd"  # where perfkit run's default run directory goes
    workdir.mkdir()
    script = [str(SCRIPTS / "workers.py"), context, str(marks)]
    if launch == "perfkit run":
        cmd = [sys.executable, "-m", "perfkit", "run", "--window", "2,1,2", *script]
    else:
        cmd = [sys.executable, *script, str(tmp_path / "run")]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    result = subprocess.run(cmd, cwd=workdir, env=env, capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stderr
    seen = [json.loads(p.read_text()) for p in marks.glob("worker-*.json")]
    assert len(seen) == 4  # two workers in each of two epochs
    for worker in seen:
        assert worker["session"] is False
        assert "perfkit-sampler" not in worker["threads"]
    run_files = list(tmp_path.rglob("run*.json"))
    assert len(run_files) == 1, run_files  # the parent's run only, nothing from a worker
    if launch == "perfkit run":  # named after the script, in the working directory
        assert run_files[0].parent.parent == workdir / "perfkit-runs"
        assert run_files[0].parent.name.startswith("workers-")
    run = read_run(run_files[0])
    # 16 batches: 16 decorated steps, or 15 between 16 optimizer steps under perfkit run.
    assert run.complete and len(run.steps) == 16


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP], ids=["SIGTERM", "SIGHUP"])
def test_a_stop_signal_saves_the_whole_run_and_ends_as_without_perfkit(tmp_path, signum):
    """What Slurm, Kubernetes and `timeout` send: the run is saved with every step and
    marked as stopped, and the process ends by the signal, as plain Python would."""
    out = tmp_path / "run"
    proc = start_forever(out, "off", "0.01", stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    _, written = _signal_when_running(proc, out / "run.json", 10, signum)
    proc.communicate(timeout=30)
    assert proc.returncode == -signum
    run = read_run(out)
    assert run.complete and run.env["interrupted"] == signal.Signals(signum).name
    assert len(run.steps) >= written >= 10


def test_a_stop_signal_still_reaches_the_scripts_own_handler(tmp_path):
    out = tmp_path / "run"
    proc = subprocess.Popen(
        [sys.executable, str(SCRIPTS / "decorated_forever.py"), str(out), "own-sigterm"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    _signal_when_running(proc, out / "run.json", 10, signal.SIGTERM)
    stdout, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 3, stderr
    assert "the script's own handler ran" in stdout
    run = read_run(out)
    assert run.complete and run.env["interrupted"] == "SIGTERM"


def test_a_report_says_first_that_the_run_was_stopped(tmp_path):
    from perfkit.analysis.engine import analyze
    from perfkit.evidence import Evidence
    from perfkit.runfile import run_from_dict
    from tests.test_judgement import cpu_run

    run = cpu_run()
    run["env"]["interrupted"] = "SIGTERM"
    notices = analyze([Evidence(run=run_from_dict(run))]).summary["notices"]
    assert notices[0].startswith("the process was stopped by SIGTERM after 12 steps")


def test_without_sampling_the_run_file_is_still_written_as_it_goes(tmp_path):
    """--sample-hz 0 turns off samples, not the periodic write: SIGKILL keeps the steps."""
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "perfkit", "run", "--sample-hz", "0", "--window", "off"]
    proc = subprocess.Popen(
        [*cmd, "-o", str(out), str(SCRIPTS / "forever.py")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    _, written = _signal_when_running(proc, out / "run.json", 10, signal.SIGKILL)
    proc.communicate(timeout=30)
    run = read_run(out)
    assert not run.complete and len(run.steps) >= written >= 10


IGNORES_SIGTERM = """
import os, signal, sys, time
from perfkit import profile_step
signal.signal(signal.SIGTERM, signal.SIG_IGN)

@profile_step(out=sys.argv[1], window=None, sample_hz=0)
def step():
    time.sleep(0.002)

for i in range(60):
    step()
    if i == 20:
        os.kill(os.getpid(), signal.SIGTERM)
print("trained on")
"""


def test_a_signal_the_script_ignores_stops_neither_it_nor_the_run(tmp_path):
    script = tmp_path / "ignores.py"
    script.write_text(IGNORES_SIGTERM)
    done = subprocess.run(
        [sys.executable, str(script), str(tmp_path / "run")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0 and "trained on" in done.stdout, done.stderr
    run = read_run(tmp_path / "run")
    assert run.complete and len(run.steps) == 60 and "interrupted" not in run.env
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ignores.py", "run"]
