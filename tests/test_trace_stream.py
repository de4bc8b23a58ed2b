"""Streaming trace reading: the same summary as reading whole, in bounded memory, and clean
errors for broken files."""

from __future__ import annotations

import dataclasses
import gzip
import importlib.util
import json
import tracemalloc

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from perfkit.jsonio import JsonFileError
from perfkit.trace import load_trace, stream
from perfkit.trace.summary import summarize, summarize_file
from tests.conftest import REPO, TRACES


def in_memory(path) -> dict:
    raw = path.read_bytes()
    data = orjson.loads(gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw)
    if isinstance(data, list):
        data = {"traceEvents": data}
    return dataclasses.asdict(summarize(data, str(path)))


def streamed(path) -> dict:
    return dataclasses.asdict(summarize_file(path))


@pytest.mark.parametrize(
    "name",
    [
        "hta-a100-80gb-nccl-16rank-rank0-pageable-htod-syncs",  # call stacks, syncs, NCCL
        "kineto-resnet50-v100-dataloader-num-workers-0",  # python_function frames
        "hta-amd-mi250-rocm-minitoy-train",
    ],
)
def test_small_chunks_give_the_summary_of_a_whole_read(name, monkeypatch):
    monkeypatch.setattr(stream, "CHUNK_BYTES", 50_000)  # hundreds of chunks
    path = TRACES / f"{name}.pt.trace.json.gz"
    assert streamed(path) == in_memory(path)


def kernel(i: int, name: str = "k") -> dict:
    return {"ph": "X", "cat": "kernel", "name": name, "ts": 100 + 10 * i, "dur": 5, "tid": 7}


EVENT_TEXT = st.text(alphabet='{}[],:" \\ab\n\x00é🙂', max_size=12)
EVENTS = st.lists(
    st.one_of(
        st.builds(
            lambda i, name, extra: {
                **kernel(i, name),
                "args": {"note": extra, "list": [{"a": extra}]},
            },
            st.integers(0, 50),
            EVENT_TEXT,
            EVENT_TEXT,
        ),
        st.builds(
            lambda i, name: {"ph": "X", "cat": "cpu_op", "name": name, "ts": 90 + 7 * i, "dur": 3},
            st.integers(0, 50),
            st.sampled_from(["ProfilerStep#1", "aten::_local_scalar_dense", "aten::mm", "}, {"]),
        ),
        st.builds(lambda i: {"ph": "i", "name": "mark", "ts": i}, st.integers(0, 9)),
        # Not events, an unknown phase, a phase not first: read as a whole parse reads them.
        st.sampled_from(
            [
                1,
                "x",
                None,
                [],
                {"ph": "X"},
                {"ph": "Z"},
                {"cat": "kernel", "name": "k", "ts": 3, "ph": "X"},
            ]
        ),
    ),
    max_size=30,
)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    events=EVENTS,
    layout=st.sampled_from(["kineto", "compact", "bare list", "keys after", "indented"]),
    chunk=st.integers(16, 400),
)
def test_any_layout_and_chunking_reads_like_a_whole_parse(
    tmp_path, monkeypatch, events, layout, chunk
):
    """Strings full of braces and commas, nested objects, odd events and keys after the
    array: streaming never cuts wrongly and never disagrees with a whole-file parse."""
    monkeypatch.setattr(stream, "CHUNK_BYTES", chunk)
    header = {"schemaVersion": 1, "deviceProperties": [{"name": "GPU }, {"}]}
    if layout == "bare list":
        text = json.dumps(events)
    elif layout == "keys after":
        text = json.dumps({"traceEvents": events, **header, "traceName": "t"})
    elif layout == "indented":
        text = json.dumps({**header, "traceEvents": events}, indent=3)
    elif layout == "compact":
        text = json.dumps({**header, "traceEvents": events}, separators=(",", ":"))
    else:  # Kineto: one event per block, "},\n  {" between them
        body = ",\n".join("  " + json.dumps(e) for e in events)
        text = json.dumps(header)[:-1] + ', "traceEvents": [\n' + body + "\n]}"
    path = tmp_path / "t.pt.trace.json"
    path.write_text(text, encoding="utf-8")
    expected = in_memory(path)
    assert dataclasses.asdict(load_trace(path)) == expected


@settings(
    max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(cut=st.floats(0.0, 0.999), gz=st.booleans(), chunk=st.integers(16, 2000))
def test_a_truncated_trace_is_a_clean_error(tmp_path, monkeypatch, cut, gz, chunk):
    monkeypatch.setattr(stream, "CHUNK_BYTES", chunk)
    whole = json.dumps({"traceEvents": [kernel(i) for i in range(40)]}).encode()
    raw = gzip.compress(whole) if gz else whole
    path = tmp_path / "t.pt.trace.json.gz"
    path.write_bytes(raw[: int(len(raw) * cut)])
    with pytest.raises(JsonFileError) as err:
        load_trace(path)
    assert str(err.value).startswith(str(path) + ": ")


def load_bench_module():
    """bench/traces.py, as ``python bench/traces.py`` loads it: with bench/ on the path
    (it imports bench/_measure.py)."""
    import sys

    bench = str(REPO / "bench")
    sys.path.insert(0, bench)
    try:
        spec = importlib.util.spec_from_file_location("bench_traces", REPO / "bench" / "traces.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(bench)
    return module


def test_replicated_trace_is_the_same_run_k_times(tmp_path):
    """The benchmark's big traces are real steps repeated: every count scales by k."""
    source = TRACES / "hta-sampled-128rank-job" / "hta-sampled-128rank-rank-0.pt.trace.json.gz"
    one, three = tmp_path / "one.pt.trace.json", tmp_path / "three.pt.trace.json"
    bench = load_bench_module()
    bench.replicate(source, one, copies=1)
    bench.replicate(source, three, copies=3)
    a, b = load_trace(one), load_trace(three)
    assert len(b.steps) == 3 * len(a.steps) > 0
    assert len({s.name for s in b.steps}) == len(b.steps)  # step numbers shifted
    assert b.kernels["count"] == 3 * a.kernels["count"]
    assert b.memcpy["HtoD pageable"]["count"] == 3 * a.memcpy["HtoD pageable"]["count"]
    assert [s.gpu_busy_us for s in b.steps] == pytest.approx([s.gpu_busy_us for s in a.steps] * 3)


def test_memory_does_not_follow_the_file(tmp_path):
    """A 40 MB trace is summarized in less memory than its text, a tenth of a whole parse."""
    path = tmp_path / "big.pt.trace.json"
    with path.open("w") as f:
        f.write('{"traceEvents": [\n')
        for i in range(120_000):
            cat = ("kernel", "cpu_op", "cuda_runtime")[i % 3]
            name = "aten::mm" if cat == "cpu_op" else "cudaLaunchKernel" if i % 3 == 2 else "gemm"
            f.write(f'{"," if i else ""}{{"ph": "X", "cat": "{cat}", "name": "{name}", ')
            f.write(f'"ts": {1_000_000 + i}, "dur": 1, "pid": 1, "tid": 2, "args": {{')
            f.write(f'"External id": {i}, "correlation": {i}, "note": "{"x" * 200}"}}}}\n')
        f.write("]}\n")
    size = path.stat().st_size
    assert size > 35e6

    def peak(read) -> int:
        tracemalloc.start()
        try:
            read()
            return tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    streaming = peak(lambda: load_trace(path))
    whole = peak(lambda: orjson.loads(path.read_bytes()))
    assert streaming < size and streaming * 10 < whole, (streaming, size, whole)


JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats(allow_nan=False)
    | st.text(max_size=8),
    lambda kids: (
        st.lists(kids, max_size=3) | st.dictionaries(st.text(max_size=5), kids, max_size=3)
    ),
    max_leaves=6,
)
FIELDS = ["ph", "cat", "name", "ts", "dur", "tid", "pid", "args", "id"]
ODD_EVENTS = st.lists(
    st.fixed_dictionaries(
        {"ph": st.just("X")},
        optional={
            "cat": st.sampled_from(
                ["kernel", "cpu_op", "cuda_runtime", "gpu_memcpy", "python_function", "x"]
            )
            | JSON_VALUES,
            "name": st.sampled_from(
                [
                    "ProfilerStep#1",
                    "Memcpy HtoD (Pageable -> Device)",
                    "cudaStreamSynchronize",
                    "aten::_local_scalar_dense",
                    "nccl:all_reduce",
                ]
            )
            | JSON_VALUES,
            "ts": st.floats(-1e18, 1e18, allow_nan=False) | JSON_VALUES,
            "dur": st.floats(-1e9, 1e18, allow_nan=False) | JSON_VALUES,
            "tid": JSON_VALUES,
            "args": st.fixed_dictionaries(
                {},
                optional={
                    # Frames as Kineto writes them, with line numbers that are not numbers.
                    "Call stack": st.sampled_from(
                        ["train.py(\u00b2): step", "t.py(12): f;u.py(x): g", "a(", "(): "]
                    )
                    | JSON_VALUES,
                    "bytes": JSON_VALUES,
                },
            )
            | JSON_VALUES,
        },
    ),
    max_size=25,
)


@settings(max_examples=200, deadline=None)
@given(
    events=ODD_EVENTS,
    header=st.dictionaries(
        st.sampled_from(["deviceProperties", "distributedInfo", "schemaVersion"]), JSON_VALUES
    ),
)
def test_valid_but_odd_traces_summarize_and_report(events, header):
    """Any field of any type: the summary is built, every rule judges it without an internal
    error, and the report renders."""
    from perfkit.analysis.engine import analyze
    from perfkit.evidence import Evidence
    from perfkit.report import render

    summary = summarize({**header, "traceEvents": events}, "odd.pt.trace.json")
    report = analyze([Evidence(trace=summary)])
    assert not [n for n in report.not_checked if "internal error" in n.reason]
    for fmt in ("terminal", "markdown", "json", "html"):
        assert render(report, fmt)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    edits=st.lists(
        st.tuples(st.floats(0, 1), st.binary(min_size=0, max_size=3)), min_size=1, max_size=4
    ),
    chunk=st.integers(16, 600),
)
def test_corrupted_bytes_give_a_summary_or_a_clean_error(tmp_path, monkeypatch, edits, chunk):
    """Bytes replaced anywhere in a valid trace: either it still parses (and summarizes),
    or the one error names the file. Nothing else escapes."""
    monkeypatch.setattr(stream, "CHUNK_BYTES", chunk)
    raw = bytearray(
        json.dumps(
            {"deviceProperties": [{}], "traceEvents": [kernel(i) for i in range(30)]}
        ).encode()
    )
    for where, replacement in edits:
        i = int(where * (len(raw) - 1))
        raw[i : i + len(replacement) or i + 1] = replacement
    path = tmp_path / "t.pt.trace.json"
    path.write_bytes(bytes(raw))
    try:
        summary = load_trace(path)
    except JsonFileError as e:
        assert str(e).startswith(f"{path}: ")
    else:
        assert summary.events >= 0


def kineto_text(names: list[str]) -> str:
    """Events laid out as Kineto writes them, one key per line, names written raw."""
    blocks = [
        f'  {{\n    "ph": "X",\n    "cat": "python_function",\n    "name": "{name}",\n'
        f'    "pid": 1,\n    "tid": 2,\n    "ts": {10 + i},\n    "dur": 1\n  }}'
        for i, name in enumerate(names)
    ]
    return '{\n  "schemaVersion": 1,\n  "traceEvents": [\n' + ",\n".join(blocks) + "\n  ]\n}\n"


@pytest.mark.parametrize("gz", [False, True])
def test_kinetos_unescaped_quotes_in_names_are_repaired(tmp_path, capsys, gz):
    """torch 2.13's Kineto writes `"name": "text_format.py(1482): Extension "",` (seen in a
    real trace); the report reads it anyway, as a file or in a run's folder of traces."""
    from tests.test_cli import invoke

    text = kineto_text(["train.py(3): step", 'text_format.py(1482): Extension "'])
    raw = gzip.compress(text.encode()) if gz else text.encode()
    path = tmp_path / ("t.pt.trace.json" + (".gz" if gz else ""))
    path.write_bytes(raw)
    with pytest.raises(ValueError):
        json.loads(text)
    assert load_trace(path).events == 2
    for target in (path, tmp_path):
        code, _, err = invoke(capsys, "report", str(target), "-f", "json")
        assert code == 0, err


@pytest.mark.parametrize("line", ["\u00b2", "12a", "", "9" * 40])
def test_a_call_stack_with_an_odd_line_number_is_still_judged(line):
    """Kineto's frames read ``file(line): function``; a line that is not a number becomes 0
    and the host-sync rule still names the site."""
    from perfkit.analysis.engine import analyze
    from perfkit.evidence import Evidence

    frame = f"/home/u/train.py({line}): step"
    events = [
        {"ph": "X", "cat": "cpu_op", "name": "ProfilerStep#1", "ts": 0, "dur": 1000},
        {"ph": "X", "cat": "kernel", "name": "gemm", "ts": 20, "dur": 100, "tid": 7},
    ]
    events += [
        {
            "ph": "X",
            "cat": "cpu_op",
            "name": "aten::_local_scalar_dense",
            "ts": 10 + i,
            "dur": 1,
            "args": {"Call stack": frame},
        }
        for i in range(5)
    ]
    report = analyze([Evidence(trace=summarize({"traceEvents": events}, "odd.pt.trace.json"))])
    (finding,) = [f for f in report.findings if f.code == "PK101"]
    assert finding.locations[0].file == "/home/u/train.py"


def test_infinite_times_and_sizes_are_left_out():
    """JSON's 1e999 reads as infinity and 1e308 overflows any sum: an event at such a time,
    or of such a length or size, counts for nothing instead of making figures inf or nan."""
    events = [
        {"ph": "X", "cat": "cpu_op", "name": "ProfilerStep#1", "ts": 0, "dur": 100},
        {"ph": "X", "cat": "cpu_op", "name": "ProfilerStep#2", "ts": 100, "dur": 1e999},
        {"ph": "X", "cat": "kernel", "name": "k", "ts": 1e999, "dur": 5},
        {"ph": "X", "cat": "kernel", "name": "k", "ts": 5, "dur": 5},
        {"ph": "X", "cat": "kernel", "name": "k", "ts": 1e300, "dur": 5},
        {"ph": "X", "cat": "kernel", "name": "k", "ts": 30, "dur": 1.7e308},
        {
            "ph": "X",
            "cat": "gpu_memcpy",
            "name": "Memcpy HtoD (Pageable -> Device)",
            "ts": 20,
            "dur": 5,
            "args": {"bytes": 1e999},
        },
    ]
    summary = summarize({"traceEvents": json.loads(json.dumps(events))}, "inf.pt.trace.json")
    figures = json.dumps(dataclasses.asdict(summary), allow_nan=True)
    assert "Infinity" not in figures and "NaN" not in figures
