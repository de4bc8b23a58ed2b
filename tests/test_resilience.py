"""The training comes first: failures inside perfkit never reach the user's loop."""

from __future__ import annotations

import time

import pytest
import torch

from perfkit.capture import graphscan, guard
from perfkit.capture.session import Session
from tests.conftest import capture


@pytest.fixture(autouse=True)
def fresh_guard(monkeypatch):
    monkeypatch.setattr(guard, "_seen", set())
    monkeypatch.setattr(guard, "errors", [])


def test_a_failing_probe_is_reported_once_and_training_goes_on(tmp_path, monkeypatch, capsys):
    def broken(self, tensor, kind):
        raise RuntimeError("probe bug")

    from perfkit.capture.recorder import EventRecorder

    monkeypatch.setattr(EventRecorder, "on_tensor_sync", broken)
    values = []
    t = torch.tensor(2.5)
    run = capture(tmp_path / "run", lambda: values.append(t.item()), steps=4)
    assert values == [2.5] * 4  # the user's call still returns its value
    assert run.complete and len(run.steps) == 4
    assert run.capture["errors"] == ["the sync probe: RuntimeError: probe bug"]
    err = capsys.readouterr().err
    assert err.count("perfkit: internal error in the sync probe") == 1


@pytest.mark.parametrize(
    "method, where",
    [
        ("on_backward", "the backward probe"),
        ("on_optimizer_step", "the optimizer probe"),
        ("on_zero_grad", "the zero_grad probe"),
        ("end_step", "ending a step"),
    ],
)
def test_a_failing_per_step_probe_costs_a_line_not_the_step(
    tmp_path, monkeypatch, capsys, method, where
):
    """The probes every step passes through catch inline (not through guard.call): each
    failure is still one line, and the step's own work is done."""

    def broken(*args):
        raise RuntimeError("probe bug")

    monkeypatch.setattr(Session, method, broken)
    model = torch.nn.Linear(2, 1)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    before = model.weight.detach().clone()

    def step():
        opt.zero_grad()
        model(torch.ones(4, 2)).sum().backward()
        opt.step()

    run = capture(tmp_path / "run", step, steps=3)
    assert not torch.equal(model.weight, before)  # the optimizer stepped
    assert run.complete
    assert run.capture["errors"] == [f"{where}: RuntimeError: probe bug"]
    assert capsys.readouterr().err.count(f"perfkit: internal error in {where}") == 1


def test_a_failing_heap_scan_leaves_the_steps_intact(tmp_path, monkeypatch):
    def broken(*args):
        raise MemoryError("scan failed")

    monkeypatch.setattr(graphscan, "scan", broken)
    run = capture(tmp_path / "run", lambda: torch.ones(2).sum(), steps=9)
    assert [s["i"] for s in run.steps] == list(range(9))
    assert run.capture["errors"] == ["the heap scan: MemoryError: scan failed"]


def test_a_record_of_the_wrong_shape_is_left_out_not_the_run_file(tmp_path, monkeypatch):
    """Every record is checked as the run file is written; one that would make the file
    unreadable is reported and left out, and the rest of the run is saved."""
    real = graphscan.scan

    def odd(steps_done, previous):
        return {**real(steps_done, previous), "tensors": "many"}

    monkeypatch.setattr(graphscan, "scan", odd)
    run = capture(tmp_path / "run", lambda: torch.ones(2).sum(), steps=9)
    assert [s["i"] for s in run.steps] == list(range(9)) and run.complete
    assert run.graph_scans == []
    assert run.capture["errors"][0].startswith("recording graph_scans[0]: FormatError")


def test_a_failing_step_start_still_runs_the_step(tmp_path, monkeypatch):
    def broken(self):
        raise ValueError("bad state")

    monkeypatch.setattr(Session, "begin_step", broken)
    run = capture(tmp_path / "run", lambda: 7, steps=3)
    assert run.complete and run.steps == []
    assert run.capture["errors"] == ["starting a step: ValueError: bad state"]


def test_unwritable_output_warns_and_training_goes_on(tmp_path, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    out = blocker / "run"  # cannot be created, even by root

    @__import__("perfkit").profile_step
    def train_step():
        return torch.ones(3).sum().item()

    with Session(out, window=None, sample_hz=0, quiet=True):
        results = [train_step() for _ in range(3)]
    assert results == [3.0, 3.0, 3.0]
    err = capsys.readouterr().err
    assert f"creating {out}" in err and f"cannot write {out / 'run.json'}" in err
    assert err.count("cannot write") == 1


def test_a_failing_sampler_is_reported_once_and_training_goes_on(tmp_path, monkeypatch, capsys):
    from perfkit.capture.sampler import Sampler

    def broken(self, nvml, handle):
        raise OSError("psutil went away")

    monkeypatch.setattr(Sampler, "_sample", broken)
    run = capture(tmp_path / "run", lambda: time.sleep(0.02), steps=15, sample_hz=100)
    assert run.complete and len(run.steps) == 15
    assert run.capture["errors"] == ["the sampler: OSError: psutil went away"]
    assert capsys.readouterr().err.count("internal error in the sampler") == 1


def test_a_failing_run_writer_never_reaches_the_training(tmp_path, monkeypatch, capsys):
    """A bug while assembling the run file: every write fails, each step still runs and
    returns, and the user hears of it once."""
    from perfkit.capture.writer import RunWriter

    def broken(self, complete):
        raise TypeError("unserializable")

    monkeypatch.setattr(RunWriter, "snapshot", broken)
    results = []
    with Session(tmp_path / "run", window=None, sample_hz=0, quiet=True):
        step = __import__("perfkit").profile_step(lambda: results.append(torch.ones(2).sum()))
        for _ in range(3):
            step()
    assert len(results) == 3
    assert capsys.readouterr().err.count("internal error in writing the run file") == 1
    assert not (tmp_path / "run" / "run.json").exists()


def test_a_full_disk_warns_once_and_training_goes_on(tmp_path, monkeypatch, capsys):
    import errno

    from perfkit.capture import writer

    def full(path, data):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(writer, "write_bytes_atomic", full)
    values = []
    run_dir = tmp_path / "run"
    with Session(run_dir, window=None, sample_hz=0, quiet=True):
        step = __import__("perfkit").profile_step(lambda: values.append(torch.ones(2).sum().item()))
        for _ in range(4):
            step()
    assert values == [2.0] * 4
    err = capsys.readouterr().err
    assert err.count(f"cannot write {run_dir / 'run.json'}") == 1
    assert "No space left on device; training goes on" in err


def test_a_full_disk_under_tensorboard_is_one_line_not_a_traceback(tmp_path, monkeypatch, capsys):
    import errno

    from tensorboard.summary.writer import record_writer

    def full(self, data):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(record_writer.RecordWriter, "write", full)
    run = capture(tmp_path / "run", lambda: torch.ones(2).sum(), steps=4, flush_interval_s=0)
    assert run.complete and len(run.steps) == 4
    err = capsys.readouterr().err
    assert "Traceback" not in err and "Exception in thread" not in err
    assert err.count("No space left on device") == 1


def test_the_summary_says_the_run_file_could_not_be_written(tmp_path, capsys):
    from perfkit.commands.summary import print_summary

    capture(tmp_path / "run", lambda: None, steps=2)  # the last write that got through
    print_summary(tmp_path / "run", "[Errno 28] No space left on device", steps_recorded=150)
    err = capsys.readouterr().err
    assert "150 steps were recorded, but the run file could not be written ([Errno 28]" in err
    assert "holds its last good write: 2 steps" in err and "no training steps" not in err
    print_summary(tmp_path / "nothing-written", "[Errno 28] No space left on device")
    assert "could not be read back" in capsys.readouterr().err
