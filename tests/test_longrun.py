"""Long runs: capture holds a bounded number of step records, and reports still judge every
step (issue 14). Folding is tested on the step log itself, then end to end through a
session driven by a fake clock, so the run's true figures are known exactly."""

from __future__ import annotations

import json
import math
from collections import Counter

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from perfkit import sketch
from perfkit.capture import steplog
from perfkit.capture.records import Interval, StepRecord
from perfkit.capture.steplog import StepLog
from tests.conftest import QUICK, read_run


def record(wall_ms: float, *, phase: str = "", error: str | None = None, memory=None, events=None):
    return StepRecord(0.0, wall_ms / 1e3, 0.0, 0.0, 1, memory, events, phase, error)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.floats(0.0, 1e6, allow_nan=False), min_size=1, max_size=300),
    st.floats(0.0, 1.0),
)
def test_a_sketched_quantile_is_within_one_percent_of_the_exact_one(values, q):
    counts: Counter[int] = Counter()
    zeros = sketch.add_values(counts, values)
    ordered = sorted(values)
    position = q * (len(ordered) - 1)
    lo, hi = math.floor(position), math.ceil(position)
    exact = ordered[lo] + (ordered[hi] - ordered[lo]) * (position - lo)
    got = sketch.quantile(counts, zeros, q)
    assert got == pytest.approx(exact, rel=sketch.ACCURACY * 1.001, abs=sketch.TINY)


@settings(max_examples=100, deadline=None)
@given(
    st.lists(st.floats(0.5, 50.0), min_size=2, max_size=200),
    st.lists(st.floats(0.5, 50.0), min_size=2, max_size=200),
)
def test_a_change_from_sketches_is_the_change_from_the_steps_within_their_rounding(base, new):
    """What `perfkit compare` says of long runs (from their sketches) is what it says of
    the same steps kept whole: medians within 1% each, so the change within ~2%."""
    from perfkit.analysis.noise import sketched_change, step_change

    def sketched(values):
        counts: Counter[int] = Counter()
        return counts, sketch.add_values(counts, values)

    exact, rounded = step_change(base, new), sketched_change(sketched(base), sketched(new))
    assert exact is not None and rounded is not None
    assert 1 + rounded.change == pytest.approx(1 + exact.change, rel=0.0202)
    assert rounded.interval is not None and rounded.interval[0] <= rounded.interval[1]


def test_a_small_change_of_a_long_run_is_not_rounded_to_a_whole_bucket():
    """200,000 steps around a bucket's edge, then 0.1% slower: with each bucket read at its
    middle the medians jumped a whole bucket (+2.02%, 'beyond noise', failing a 2% gate);
    spread across their buckets they move with the steps."""
    import numpy as np

    from perfkit.analysis.noise import sketched_change

    rng = np.random.default_rng(1)
    edge = sketch.GAMMA**115
    base = rng.normal(edge * 0.9995, edge * 0.01, 200_000)

    def sketched(values):
        counts: Counter[int] = Counter()
        return counts, sketch.add_values(counts, values.tolist())

    slower = sketched_change(sketched(base), sketched(base * 1.001))
    assert slower is not None and slower.change == pytest.approx(0.001, abs=0.001)
    again = sketched_change(
        sketched(base), sketched(rng.normal(edge * 0.9995, edge * 0.01, 200_000))
    )
    assert again is not None and abs(again.change) < 0.002 and not again.beyond_noise


def test_the_step_log_keeps_the_head_the_tail_and_what_is_measured_apart(monkeypatch):
    monkeypatch.setattr(steplog, "MAX_BLOCKS", 8)  # coarsening, within a small run
    log = StepLog()
    n = 60_000
    rng = torch.Generator().manual_seed(0)
    walls = (torch.rand(n, generator=rng, dtype=torch.float64) * 4 + 1).tolist()
    for i, wall in enumerate(walls):
        phase = "active" if i == 30_000 else ""
        error = "ValueError" if i in (25_000, 40_000) else None
        events = None
        if i % 2:
            events = Interval()
            events.add_sync(("train.py", 7, "step"), "item")
        log.append(record(wall, phase=phase, error=error, memory=1000 + i, events=events))
        log.maybe_fold()
    log.fold()
    kept, blocks = log.snapshot()
    indices = [i for i, _ in kept]
    expected = [*range(steplog.HEAD), 25_000, 30_000, 40_000, *range(n - steplog.TAIL, n)]
    assert indices == expected
    assert len(blocks) <= 8 and log.width > steplog.BLOCK_WIDTH  # neighbours merged
    # Every step is in exactly one place, and the blocks' figures are exact.
    assert len(kept) + sum(b.count for b in blocks) == n
    folded = [walls[i] for i in range(n) if i not in set(indices)]
    assert sum(b.phases["wall"].sum for b in blocks) == pytest.approx(sum(folded))
    assert min(b.phases["wall"].min for b in blocks) == pytest.approx(min(folded))
    assert sum(b.events.syncs[(("train.py", 7, "step"), "item")] for b in blocks) == sum(
        1 for i in range(n) if i % 2 and i not in set(indices)
    )
    assert blocks[-1].memory_peak == max(1000 + i for i in range(n) if i not in set(indices))
    assert sum(b.errors for b in blocks) == 0  # the two that raised are kept whole


def test_records_held_stay_bounded_however_long_the_run():
    log = StepLog()
    held = []
    for i in range(200_000):
        log.append(record(1.0))
        log.maybe_fold()  # no writer thread here: the training thread folds itself
        if i % 20_000 == 0:
            held.append(len(log.kept) + len(log.recent) + len(log.blocks))
    assert max(held) <= steplog.HEAD + steplog.FOLD_AT + steplog.MAX_BLOCKS
    assert len(log) == 200_000


def test_a_long_run_is_judged_on_all_its_steps(tmp_path):
    """8,000 steps: the first 2,000 and the last 1,000 take 1 ms, the 5,000 between 5 ms,
    and each reads a tensor's value at the same line. Only the whole run says the median
    step is 5 ms; the steps kept whole alone would say 1 ms."""
    from perfkit import Session, load_run
    from perfkit.analysis.engine import analyze
    from perfkit.evidence import Evidence

    n = 8_000
    now = [100.0]
    x = torch.ones(2)
    with Session(
        tmp_path / "run", clock=lambda: now[0], **QUICK, graph_scan=False, probe_step=False
    ) as session:
        for i in range(n):
            with session.step():
                x.sum().item()  # the sync, every step
                now[0] += 0.005 if 2_000 <= i < n - 1_000 else 0.001
    raw = read_run(tmp_path / "run")
    assert len(raw.steps) == 3_000 and sum(b["count"] for b in raw.step_blocks) == 5_000
    run = load_run(tmp_path / "run")
    assert run.step_count == n
    ev = Evidence(run=run)
    assert ev.median_step_ms == pytest.approx(5.0, rel=0.011)
    report = analyze([ev])
    assert report.summary["steps"] == n
    series = report.summary["series"]
    assert len(series["wall_ms"]) <= 400 and series["first_step"][0] == 0
    assert max(series["wall_ms"]) == pytest.approx(5.0, rel=1e-3)
    sync = next(f for f in report.findings if f.code == "PK101")
    assert sync.locations[0].code == "x.sum().item()  # the sync, every step"
    top = report.summary["top_sync_sites"][0]
    assert top["per_step"] == pytest.approx(1.0)


def _long_run(path, middle_s: float, n: int = 8_000) -> None:
    """n steps of 1 ms, but those between the first 2,000 and the last 1,000 take middle_s."""
    from perfkit import Session

    now = [0.0]
    with Session(path, clock=lambda: now[0], **QUICK, graph_scan=False, probe_step=False) as s:
        for i in range(n):
            with s.step():
                now[0] += middle_s if 2_000 <= i < n - 1_000 else 0.001


def test_compare_of_two_long_runs_compares_their_whole_runs(tmp_path):
    """The kept steps of both runs are alike (1 ms); their folded steps are not."""
    from perfkit import compare

    _long_run(tmp_path / "a", 0.005)
    _long_run(tmp_path / "b", 0.004)
    c = compare(tmp_path / "a", tmp_path / "b")
    pair = c.headline
    assert pair.phases["step_ms"][0] == pytest.approx(5.0, rel=0.011)
    assert pair.phases["step_ms"][1] == pytest.approx(4.0, rel=0.011)
    assert pair.speedup == pytest.approx(1.25, rel=0.03)
    # The change and its interval come from the whole runs too, so the CI gate sees the
    # slowdown in the middle of the run that the kept steps do not show.
    assert pair.step.change == pytest.approx(0.8 - 1, abs=0.02)
    assert pair.step.beyond_noise
    assert compare(tmp_path / "b", tmp_path / "a").regressed(10)
    assert not compare(tmp_path / "a", tmp_path / "b").regressed(0)


def test_the_report_of_a_long_run_draws_bins_of_steps(tmp_path):
    from perfkit import Session, load_run
    from perfkit.analysis.engine import analyze
    from perfkit.evidence import Evidence
    from perfkit.report import render

    now = [0.0]
    with Session(
        tmp_path / "run", clock=lambda: now[0], **QUICK, graph_scan=False, probe_step=False
    ) as session:
        for i in range(6_000):
            with session.step():
                now[0] += 0.002 if i % 1000 else 0.010
    report = analyze([Evidence(run=load_run(tmp_path / "run"))])
    html = render(report, "html")
    assert "steps 0-" in html and "(their mean)" in html  # hover names ranges of steps
    assert "6,000 (boundaries: Session.step())" in render(report, "markdown")
    data = json.loads(render(report, "json"))
    assert data["summary"]["steps"] == 6_000
    assert len(data["summary"]["series"]["wall_ms"]) < 400


def test_a_run_file_of_schema_1_still_reads(tmp_path):
    from perfkit import load_run
    from tests.conftest import capture

    capture(tmp_path / "run", lambda: None, steps=3)
    path = tmp_path / "run" / "run.json"
    data = json.loads(path.read_text())
    data["schema"] = "perfkit.run/1"
    del data["step_blocks"]
    path.write_text(json.dumps(data))
    run = load_run(path)
    assert run.step_count == 3 and run.step_blocks == ()


def test_a_step_too_short_for_hundredths_of_a_millisecond_is_told_in_microseconds():
    from perfkit.report.text import duration_text

    assert duration_text(12.345) == "12.35 ms"
    assert duration_text(0.0016) == "1.6 µs"
    assert duration_text(0.0) == "0.00 ms"


def test_a_recut_after_thousands_of_folded_steps_keeps_their_events_and_data_wait(tmp_path):
    """A script reads 5,000 batches (a data scan, say) before its first optimizer step:
    5,000 automatic steps, most folded, then re-cut into one first step. What they held
    (batches, and a sync every batch) goes into that step, as without folding."""
    from torch.utils.data import DataLoader

    from perfkit import Session, load_run

    loader = DataLoader(torch.arange(5_000.0), batch_size=1)
    model = torch.nn.Linear(1, 1)
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    with Session(tmp_path / "run", window=None, sample_hz=0, auto_steps=True, quiet=True) as s:
        for batch in loader:
            batch.sum().item()
        s.steps.fold()  # as the writer thread would have
        assert s.steps.blocks  # most of the batches were folded
        for _ in range(3):
            model(torch.ones(1, 1)).sum().backward()
            opt.step()
    run = load_run(tmp_path / "run")
    assert run.step_count == 3 and not run.step_blocks
    first = run.steps[0]
    assert first.batches == 5_000
    assert first.events is not None and first.events.syncs.count == 5_000


def test_the_hot_path_builds_whole_step_records(tmp_path):
    """Session._close_step builds StepRecord with tuple.__new__ (no NamedTuple __new__ on
    the hot path), which checks nothing: a field added to StepRecord must be filled too."""
    from perfkit import Session

    with Session(tmp_path / "run", **QUICK) as session:
        with session.step():
            pass
        [record] = session.steps.recent
        assert len(record) == len(StepRecord._fields) and record.phase in ("", "probe")
