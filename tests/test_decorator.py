"""@profile_step forms, pass-through of results and exceptions, and numerical identity."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch

from perfkit import Session, profile_step
from perfkit.capture import step as step_module
from tests.conftest import QUICK, read_run


def test_bare_decorator_uses_the_active_session(tmp_path):
    @profile_step
    def train_step(x):
        return x * 2

    with Session(tmp_path / "run", **QUICK):
        assert [train_step(i) for i in range(3)] == [0, 2, 4]
    run = read_run(tmp_path / "run")
    assert len(run.steps) == 3 and run.capture["step_source"] == "decorator"
    assert train_step.__name__ == "train_step"


def test_decorator_with_options_starts_a_default_session(tmp_path):
    out = tmp_path / "exp1"

    @profile_step(out=out, window=None, sample_hz=0, quiet=True)
    def train_step():
        return "ok"

    assert train_step() == "ok" and train_step() == "ok"
    session = step_module.default_session()
    assert session is not None and session.run_dir == out
    session.close()
    run = read_run(out)
    assert run.complete and len(run.steps) == 2


def test_misspelt_option_fails_at_decoration():
    with pytest.raises(TypeError):
        profile_step(windw=(1, 1, 1))


def test_methods_are_decorated(tmp_path):
    class Trainer:
        def __init__(self):
            self.calls = 0

        @profile_step
        def step(self, k):
            self.calls += k
            return self.calls

    trainer = Trainer()
    with Session(tmp_path / "run", **QUICK):
        assert trainer.step(2) == 2 and trainer.step(3) == 5
    assert len(read_run(tmp_path / "run").steps) == 2


def test_exception_propagates_unchanged_and_run_is_saved(tmp_path):
    class Boom(Exception):
        pass

    error = Boom("bad batch")

    @profile_step
    def train_step(fail):
        if fail:
            raise error
        return 1

    with pytest.raises(Boom) as caught, Session(tmp_path / "run", **QUICK):
        train_step(False)
        train_step(True)
    assert caught.value is error
    run = read_run(tmp_path / "run")
    assert run.complete
    assert [s.get("error") for s in run.steps] == [None, "Boom"]
    assert run.env["error"] == "Boom: bad batch"


def test_nested_decorated_calls_are_one_step(tmp_path):
    @profile_step
    def inner():
        return 1

    @profile_step
    def outer():
        return inner() + inner()

    with Session(tmp_path / "run", **QUICK):
        assert outer() == 2
    assert len(read_run(tmp_path / "run").steps) == 1


def _train(steps, decorate, out=None):
    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Conv2d(3, 4, 3), torch.nn.ReLU(), torch.nn.Flatten(), torch.nn.Linear(4 * 6 * 6, 5)
    )
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    x, y = torch.randn(8, 3, 8, 8), torch.randint(0, 5, (8,))

    def step():
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        return loss.item()

    if decorate:
        # Everything on: profiler window, probe step, heap scans, sampler.
        with Session(out, window=(1, 1, 2), sample_hz=50, quiet=True):
            wrapped = profile_step(step)
            for _ in range(steps):
                wrapped()
    else:
        for _ in range(steps):
            step()
    return [p.detach().clone() for p in model.parameters()]


def test_parameters_are_bit_identical_with_and_without_perfkit(tmp_path):
    plain = _train(12, decorate=False)
    profiled = _train(12, decorate=True, out=tmp_path / "run")
    assert len(read_run(tmp_path / "run").steps) == 12
    for a, b in zip(plain, profiled, strict=True):
        assert torch.equal(a, b)


def test_step_indices_are_consecutive_across_flushes(tmp_path):
    @profile_step
    def train_step():
        return None

    with Session(tmp_path / "run", **QUICK) as session:
        for n in range(3):
            for _ in range(4):
                train_step()
            session.writer.flush(complete=False)
            assert [s["i"] for s in read_run(tmp_path / "run").steps] == list(range(4 * (n + 1)))


def test_probes_restore_torch_exactly_when_the_last_session_ends(tmp_path):
    """Probes installed by a session alone are removed with it: torch is as it was.

    In a fresh process, since a decorator elsewhere in this one keeps the probes for good.
    """
    code = f"""
import torch
from perfkit import Session
before = (torch.Tensor.item, torch.Tensor.to, torch.autograd.backward, torch.Tensor.__bool__)
with Session({str(tmp_path / "run")!r}, window=None, sample_hz=0, quiet=True):
    assert torch.Tensor.to is not before[1]
after = (torch.Tensor.item, torch.Tensor.to, torch.autograd.backward, torch.Tensor.__bool__)
assert after == before, (after, before)
assert "item" not in torch.Tensor.__dict__
print("restored")
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.stdout.strip() == "restored", out.stderr


def test_an_async_step_is_timed_to_its_return(tmp_path):
    """`async def` steps: one step from the call to the return, awaits included."""
    import asyncio

    @profile_step
    async def step():
        await asyncio.sleep(0.02)
        return "done"

    async def train():
        return [await step() for _ in range(4)]

    with Session(tmp_path / "run", **QUICK):
        assert asyncio.run(train()) == ["done"] * 4
    run = read_run(tmp_path / "run")
    assert len(run.steps) == 4 and all(s["wall_ms"] >= 20 for s in run.steps)


def test_a_generator_step_is_one_step_per_resumption(tmp_path):
    """Each next() is one step, up to the next yield: the work, not the ~0 ms of creating
    the generator. send(), throw() and close() reach the generator as with yield from."""
    import time

    @profile_step
    def epoch(n):
        received = []
        for i in range(n):
            time.sleep(0.02)
            try:
                received.append((yield i))
            except KeyError:
                received.append("thrown")
        return received

    with Session(tmp_path / "run", **QUICK):
        assert list(epoch(3)) == [0, 1, 2]
        gen = epoch(3)
        assert next(gen) == 0 and gen.send("a") == 1 and gen.throw(KeyError) == 2
        with pytest.raises(StopIteration) as stop:
            gen.send("c")
        assert stop.value.value == ["a", "thrown", "c"]
        closed = epoch(5)
        next(closed)
        closed.close()
    walls = [s["wall_ms"] for s in read_run(tmp_path / "run").steps]
    # 3 yields + the end, twice; then one resumption of the closed generator.
    assert len(walls) == 9
    assert sum(w >= 20 for w in walls) == 7, walls


def test_an_async_generator_is_refused_at_decoration():
    async def batches():
        yield 1

    with pytest.raises(TypeError, match="async generator"):
        profile_step(batches)


def test_a_recursive_step_goes_as_deep_as_the_plain_function(tmp_path):
    def plain(n):
        return 0 if n == 0 else 1 + plain(n - 1)

    deepest = sys.getrecursionlimit() - 60  # what the plain function reaches from here
    assert plain(deepest) == deepest
    limit = sys.getrecursionlimit()
    with Session(tmp_path / "run", **QUICK):
        decorated = profile_step(lambda n: 0 if n == 0 else 1 + decorated(n - 1))
        assert decorated(deepest) == deepest
        with pytest.raises(RecursionError):
            decorated(limit + 10)
    assert sys.getrecursionlimit() == limit
    steps = read_run(tmp_path / "run").steps
    assert len(steps) == 2 and steps[1]["error"] == "RecursionError"


def test_a_session_not_started_starts_at_its_first_step(tmp_path):
    session = Session(tmp_path / "run", **QUICK)
    with session.step():
        torch.ones(2).sum()
    session.close()
    assert len(read_run(tmp_path / "run").steps) == 1


def test_steps_come_from_one_thread_and_no_thread_keeps_perfkits_hooks(tmp_path, capsys):
    """Four threads call one decorated step 50 times each: the first thread to mark a step
    records its 50 steps, the others run unrecorded (said once), and no thread is left with
    the probe step's profile hook or torch modes."""
    import sys
    import threading

    from torch.utils._python_dispatch import _get_current_dispatch_mode_stack

    left_behind = []

    @profile_step
    def step():
        torch.ones(8, 8).mm(torch.ones(8, 8)).sum().item()

    def train():
        for _ in range(50):
            step()
        hooks = (sys.getprofile(), _get_current_dispatch_mode_stack())
        left_behind.append(hooks[0] is not None or bool(hooks[1]))
        left_behind.append(torch._C._len_torch_function_stack() > 0)

    with Session(tmp_path / "run", **QUICK):
        threads = [threading.Thread(target=train) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert not any(left_behind)
    assert len(read_run(tmp_path / "run").steps) == 50
    assert capsys.readouterr().err.count("run unrecorded") == 1


def test_window_off_is_accepted_and_a_bad_window_fails_at_decoration(tmp_path):
    step = profile_step(out=tmp_path / "run", window="off", sample_hz=0, quiet=True)(lambda: 1)
    assert step() == 1
    step_module.default_session().close()
    assert len(read_run(tmp_path / "run").steps) == 1
    with pytest.raises(ValueError, match="window"):
        profile_step(window=(1, 2))(lambda: 1)


def test_a_decorated_steps_folder_is_fixed_where_it_was_decorated(tmp_path, monkeypatch):
    """Hydra changes directory after the script started: the run lands where `out` meant
    when the step was decorated."""
    monkeypatch.chdir(tmp_path)
    step = profile_step(out="decorun", window=None, sample_hz=0, quiet=True)(lambda: 1)
    (tmp_path / "outputs").mkdir()
    monkeypatch.chdir(tmp_path / "outputs")
    step()
    step_module.default_session().close()
    assert len(read_run(tmp_path / "decorun").steps) == 1
    assert not (tmp_path / "outputs" / "decorun").exists()
