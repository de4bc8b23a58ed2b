"""The step-boundary state machine, driven by made-up signals (no torch, no clock)."""

from __future__ import annotations

from perfkit.capture.boundaries import StepBoundaries


def cuts(signals):
    """Feed (source, time[, optimizer]) signals; return the step-end times and re-cuts."""
    b = StepBoundaries()
    ends, recuts = [], []
    for source, t, *opt in signals:
        result = b.on_signal(source, t, *opt)
        if result is None:
            recuts.append(t)
        else:
            ends += result
    return b, ends, recuts


def test_weaker_signals_never_cut_once_a_stronger_source_rules():
    b, ends, recuts = cuts(
        [
            ("batch", 0),
            ("backward", 1),
            ("optimizer", 2, "A"),
            ("batch", 3),
            ("backward", 4),
            ("optimizer", 5, "A"),
        ]
    )
    assert b.source == "optimizer" and recuts == [0, 1, 2] and ends == [5]
    assert [c["to"] for c in b.changes] == ["backward", "optimizer"]


def test_gradient_accumulation_and_closures_cut_at_the_optimizer_only():
    signals = [("backward", t) for t in range(4)] + [("optimizer", 4, "A")]
    signals += [("backward", t) for t in range(5, 9)] + [("optimizer", 9, "A")]
    b, ends, recuts = cuts(signals)
    assert recuts == [0, 4] and ends == [1, 2, 3, 9]  # backward cuts before the switch only


def test_a_gan_steps_two_optimizers_in_one_step():
    signals = []
    for i in range(5):
        signals += [("optimizer", 10 * i, "D"), ("optimizer", 10 * i + 5, "G")]
    b, ends, _ = cuts(signals)
    assert b.lead == "D" and ends == [10, 20, 30, 40] and b.lead_changes == 0


def test_sequential_optimizers_each_cut_their_own_steps():
    signals = [("optimizer", t, "A") for t in range(5)] + [
        ("optimizer", t, "B") for t in range(5, 10)
    ]
    b, ends, recuts = cuts(signals)
    # A leads, then B stepping twice without A takes over; its first step ended a step too.
    assert recuts == [0] and ends == [1, 2, 3, 4, 5, 6, 7, 8, 9]
    assert b.lead == "B" and b.lead_changes == 1


def test_the_decorator_outranks_everything():
    b, ends, recuts = cuts([("optimizer", 0, "A"), ("decorator", 1), ("optimizer", 2, "A")])
    assert b.source == "decorator" and recuts == [0, 1] and ends == []
    assert b.to_json()["why"].startswith("steps are marked")


def test_a_recut_redoes_what_was_captured_under_the_old_source(tmp_path):
    """Eight backward() calls per optimizer.step(): backward cuts steps first, and the probe,
    heap scans and profiler window run on those sub-steps. When the optimizer appears they
    are thrown away and taken again on real steps."""
    import torch

    from perfkit.capture.session import Session
    from tests.conftest import read_run

    model = torch.nn.Linear(16, 4)
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    with Session(tmp_path / "run", window=(2, 0, 2), sample_hz=0, auto_steps=True, quiet=True):
        for _ in range(24):
            for _ in range(8):
                model(torch.randn(8, 16)).sum().backward()
            opt.step()
            opt.zero_grad()
    run = read_run(tmp_path / "run")
    assert len(run.steps) == 24 and run.capture["step_boundaries"]["source_changes"] == [
        {"from": "backward", "to": "optimizer", "steps_recut": 8}
    ]
    assert run.probe["step"] >= 1 and run.probe["backward_ops"] > 0  # counted on a real step
    scanned = [g["step"] for g in run.graph_scans if not g.get("final")]
    assert scanned == sorted(scanned)  # no scan numbers from the sub-steps
    [trace] = run.traces  # the sub-steps' trace was deleted, the real window kept
    phases = [s.get("phase", "") for s in run.steps]
    assert phases[2:4] == ["active", "active"]
    from perfkit.trace import load_trace

    profiled = load_trace(tmp_path / "run" / trace).steps
    assert len(profiled) == 2
    # each recorded step is a whole iteration: eight backward passes, not one
    assert all(s.backward_us > 0 for s in profiled)


def test_a_wgan_iteration_is_five_critic_steps_and_one_generator_step():
    signals, t = [], 0
    for _ in range(6):
        for _ in range(5):
            signals.append(("optimizer", t, "D"))
            t += 1
        signals.append(("optimizer", t, "G"))
        t += 1
    b, ends, recuts = cuts(signals)
    # D leads until G shows it steps once every five of D's; then one step per iteration.
    assert b.lead == "G" and len(recuts) == 2  # the first signal, then the lead change
    after = [e for e in ends if e > recuts[-1]]
    assert after == [17, 23, 29, 35]


def test_step_times_come_from_the_sessions_clock(tmp_path):
    """The Session reads time from its clock only: a fake clock gives exact step records."""
    from perfkit import Session
    from tests.conftest import QUICK, read_run

    now = [100.0]
    with Session(
        tmp_path / "run", clock=lambda: now[0], **QUICK, graph_scan=False, probe_step=False
    ) as session:
        for wall, gap in [(0.010, 0.002), (0.020, 0.001), (0.030, 0.0)]:
            now[0] += gap
            with session.step():
                now[0] += wall
    run = read_run(tmp_path / "run")
    assert [s["wall_ms"] for s in run.steps] == [10.0, 20.0, 30.0]
    assert [s["outside_ms"] for s in run.steps] == [2.0, 1.0, 0.0]
    assert [s["t"] for s in run.steps] == [0.002, 0.013, 0.033]
