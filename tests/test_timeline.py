"""What the trace summary keeps for the page (issue 15): operators' self time, and the
profiled window's timeline, bounded."""

from __future__ import annotations

import numpy as np
import pytest

from perfkit.trace import load_trace, summarize, timeline
from perfkit.trace.intervals import Intervals, nesting
from perfkit.trace.stream import TraceStream
from perfkit.trace.summary import _Collector
from tests.conftest import TRACES

RESNET = TRACES / "kineto-resnet50-v100-dataloader-num-workers-0.pt.trace.json.gz"
DDP = TRACES / "hta-v100-nccl-2rank-rank1-ddp.pt.trace.json.gz"


def op(name: str, ts: float, dur: float, tid: int = 1, cat: str = "cpu_op") -> dict:
    return {"ph": "X", "cat": cat, "name": name, "ts": ts, "dur": dur, "pid": 1, "tid": tid}


def test_self_time_leaves_out_the_children():
    """``a`` runs 100 us and calls ``b`` (30 us, which calls ``c``, 10 us) and ``d``."""
    events = [
        op("ProfilerStep#1", 0, 200),
        op("a", 0, 100),
        op("b", 10, 30),
        op("c", 10, 10),
        op("zero", 10, 0),
        op("d", 50, 10),
        op("d", 150, 5, tid=2),
    ]
    summary = summarize({"traceEvents": events})
    found = {name: (calls, total, own) for name, calls, total, own in summary.top_ops}
    assert found == {
        "a": (1, 100.0, 60.0),
        "b": (1, 30.0, 20.0),
        "c": (1, 10.0, 10.0),
        "zero": (1, 0.0, 0.0),
        "d": (2, 15.0, 15.0),
    }
    assert [name for name, *_ in summary.top_ops][:2] == ["a", "b"]  # by self time
    assert summary.op_self_us == 105.0  # the time each thread ran an op


def test_nesting_gives_depths_on_one_thread_and_not_across_threads():
    start = np.array([0.0, 10, 10, 50, 0])
    dur = np.array([100.0, 30, 10, 10, 5])
    depth, own = nesting(start, dur, np.array([0, 0, 0, 0, 1]))
    assert depth.tolist() == [0, 1, 2, 1, 0]
    assert own.tolist() == [60.0, 20.0, 10.0, 10.0, 5.0]


@pytest.mark.parametrize("path", [RESNET, DDP], ids=["resnet50", "ddp"])
def test_self_times_add_up_to_the_time_each_thread_ran_ops(path):
    """On real traces: no op's self time exceeds its time with children, and their sum is
    exactly the union of each thread's ops (an op's time is counted once, at its level)."""
    stream, collector = TraceStream(path), _Collector()
    for batch in stream.batches():
        collector.add(batch)
    start, dur, _, thread = collector.cpu.arrays()
    busy = sum(
        Intervals(start[thread == t], start[thread == t] + dur[thread == t]).total
        for t in np.unique(thread)
    )
    summary = collector.finish(stream.header, str(path))
    assert summary.op_self_us == pytest.approx(busy, rel=1e-9)
    assert summary.op_self_us < dur.sum()
    assert all(0 <= own <= total for _, _, total, own in summary.top_ops)


def test_a_gpu_trace_has_lanes_for_threads_and_streams():
    t = load_trace(DDP).timeline
    assert t is not None
    labels = [lane.label for lane in t.lanes]
    assert labels == [
        "thread 783658 (python3.8)",  # runs the ProfilerSteps: first
        "thread 785244 (python3.8)",  # autograd's
        "GPU 1 stream 7",
        "GPU 1 stream 14",
    ]
    kinds = {t.names[n][0] for lane in t.lanes for n in lane.name}
    assert {"op", "comm", "kernel", "memcpy"} <= kinds  # memsets: all short, left out
    assert [name for name, _, _ in t.steps] == [f"ProfilerStep#{i}" for i in range(2, 7)]
    assert t.steps[0][1] == 0.0 and t.span_us == pytest.approx(sum(d for *_, d in t.steps), 1e-3)
    for lane in t.lanes:
        assert lane.start_us == sorted(lane.start_us)
        assert lane.device == ("gpu" if lane.label.startswith("GPU") else "cpu")


def drawn(t) -> int:
    return sum(len(lane.start_us) for lane in t.lanes)


def test_the_timeline_keeps_the_longest_events_and_merges_the_rest_within_the_cap(monkeypatch):
    """The ResNet-50 window holds 32k events: at most 20,000 things are drawn, the longest
    events as they are and the others in blocks; with a cap of 2,000, the same. An op is
    never drawn without the ops (or blocks of them) that enclose it."""
    for cap in (timeline.MAX_EVENTS, 2000):
        monkeypatch.setattr(timeline, "MAX_EVENTS", cap)
        t = load_trace(RESNET).timeline
        assert t is not None and t.events == 32166
        assert drawn(t) == t.kept + t.blocks <= cap
        assert t.kept + t.merged + t.dropped == t.events and t.merged > t.blocks > 0
        kept = [d for lane in t.lanes for i, d in enumerate(lane.dur_us) if not _merged(lane, i)]
        assert len(kept) == t.kept and max(kept) > t.short_us > 0
        for lane in t.lanes:
            assert all(busy <= n * t.short_us + 0.1 for _, n, busy in lane.merged)
            open_at: list[tuple[float, int]] = []  # (end, depth) of the enclosing ops
            for i, (start, dur, depth) in enumerate(
                zip(lane.start_us, lane.dur_us, lane.depth, strict=True)
            ):
                open_at = [(end, d) for end, d in open_at if end > start]
                if not _merged(lane, i):  # within ops, or blocks of them, at every level
                    assert {d for _, d in open_at} >= set(range(depth)), (lane.label, start)
                open_at.append((start + dur, depth))


def test_what_cannot_fit_even_merged_is_left_out_and_counted(monkeypatch):
    monkeypatch.setattr(timeline, "MAX_EVENTS", 500)
    t = load_trace(RESNET).timeline
    assert t is not None and drawn(t) == 500
    assert t.dropped > 0 and t.dropped_us > 0
    assert t.kept + t.merged + t.dropped == t.events


def _merged(lane, i: int) -> bool:
    return any(position == i for position, _, _ in lane.merged)


def test_a_stream_of_short_kernels_stays_busy_on_the_page():
    """On the DDP trace 70k of 81k events are short: merged, the time each GPU stream ran
    is still all there."""
    stream, collector = TraceStream(DDP), _Collector()
    for batch in stream.batches():
        collector.add(batch)
    summary = collector.finish(stream.header, str(DDP))
    t = summary.timeline
    assert t is not None and t.merged > 50_000 and t.dropped == 0
    w0 = summary.steps[0].start_us
    w1 = max(s.start_us + s.dur_us for s in summary.steps)
    for key, index in collector.threads.items():
        if not isinstance(key, tuple):
            continue
        ran = 0.0
        for column in (collector.kernel, collector.copies):
            start, dur, _, lane = column.arrays()
            inside = (lane == index) & (start < w1) & (start + dur > w0)
            ran += float(dur[inside].sum())
        label = f"GPU {key[1]} stream {key[2]}"
        shown = next(lane for lane in t.lanes if lane.label == label)
        merged = {i: busy for i, _, busy in shown.merged}
        busy = sum(merged.get(i, d) for i, d in enumerate(shown.dur_us))
        assert busy == pytest.approx(ran, rel=1e-3), label


def test_a_trace_without_profiler_steps_is_one_window_without_markers():
    events = [op("a", 10, 5), op("k", 12, 2, tid=7, cat="kernel")]
    t = summarize({"traceEvents": events}).timeline
    assert t is not None and t.steps == [] and t.span_us == 5.0
    assert [lane.label for lane in t.lanes] == ["thread 1", "GPU 1 stream 7"]
