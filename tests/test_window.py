"""The sampled profiler window: traces where TensorBoard finds them, and never in the way."""

from __future__ import annotations

import gzip
import json

import torch

from perfkit.capture.window import WindowSpec
from tests.conftest import capture


def _work():
    torch.ones(32, 32) @ torch.ones(32, 32)


def test_window_phases_follow_the_schedule():
    spec = WindowSpec(wait=2, warmup=1, active=2, repeat=2)
    phases = [spec.phase(i) for i in range(12)]
    assert phases == ["", "", "warmup", "active", "active"] * 2 + ["", ""]
    forever = WindowSpec(wait=1, warmup=0, active=1, repeat=0)
    assert [forever.phase(i) for i in range(6)] == ["", "active"] * 3


def test_window_writes_gzipped_traces_listed_in_the_run(tmp_path):
    """Beside the run file, so that TensorBoard names the run after the run directory
    (issue 15; they went to traces/ before, a run named "traces")."""
    run = capture(tmp_path / "run", _work, steps=12, window=(2, 1, 2, 2))
    assert len(run.traces) == 2
    for name in run.traces:
        assert "/" not in name and name.endswith(".pt.trace.json.gz")
        trace = json.loads(gzip.decompress((tmp_path / "run" / name).read_bytes()))
        steps = {
            e["name"] for e in trace["traceEvents"] if e.get("name", "").startswith("ProfilerStep#")
        }
        assert len(steps) == 2  # the two active steps
    phases = [s.get("phase", "") for s in run.steps]
    assert phases.count("active") == 4 and phases.count("warmup") == 2
    assert run.capture["window"] == [2, 1, 2, 2]


def test_window_off_writes_no_trace(tmp_path):
    run = capture(tmp_path / "run", _work, steps=8, window=None)
    assert run.traces == [] and not list((tmp_path / "run").rglob("*.pt.trace.json*"))
    assert run.capture["window"] is None


def test_a_users_own_profiler_wins_and_training_goes_on(tmp_path):
    with torch.profiler.profile():
        run = capture(tmp_path / "run", _work, steps=8, window=(1, 0, 2))
    assert len(run.steps) == 8
    assert run.capture["window_error"]
    assert run.traces == []


def test_the_window_starts_between_two_writes_of_the_run_file(tmp_path):
    """A write in progress (the first imports TensorBoard) on the sampler thread would land
    in the trace; the window waits for it to end."""
    import threading
    import time

    from perfkit import Session

    with Session(tmp_path / "run", window=(1, 0, 1), sample_hz=0, quiet=True) as session:
        with session.step():  # step 0: before the window
            pass
        held, released = threading.Event(), []

        def write_in_progress():
            with session.writer.lock:
                held.set()
                time.sleep(3)  # ample for the profiler to start, were it not waiting
                released.append(time.perf_counter())

        writer = threading.Thread(target=write_in_progress)
        writer.start()
        held.wait()
        with session.step():  # step 1 opens the window
            assert session.profiler_recording()
            opened = time.perf_counter()
        writer.join()
    assert opened >= released[0]


def test_perfkit_s_own_writing_stays_out_of_the_trace(tmp_path):
    """The profiler's Python tracer records every thread. The sampler thread's first tick
    (0.1 s in) opens TensorBoard's writer and folds steps; with the window recording then,
    those calls (protobuf's, importlib's, perfkit's) filled the trace: 900 KB instead of 9,
    with names that broke TensorBoard's JSON parser."""
    import re
    import time

    from perfkit import Session

    with Session(tmp_path / "run", window=(1, 1, 3), sample_hz=10, quiet=True) as session:
        for _ in range(8):
            with session.step():
                time.sleep(0.04)  # the window spans the sampler's first tick
    [trace] = list((tmp_path / "run").glob("*.pt.trace.json.gz"))
    names = {
        e.get("name", "") for e in json.loads(gzip.decompress(trace.read_bytes()))["traceEvents"]
    }
    heavy = re.compile(r"tensorboard|protobuf|importlib|perfkit/capture/.*: (_?fold|flush|open)$")
    ours = [n for n in names if heavy.search(n)]
    assert not ours, ours[:5]
