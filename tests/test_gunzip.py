"""Gzipped traces and run files read the same through ISA-L (isal) and the stdlib, and
every broken gzip is one clean error naming the file, whichever inflates it."""

from __future__ import annotations

import dataclasses
import gzip
import importlib.util
import json
import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from perfkit import gunzip
from perfkit.jsonio import JsonFileError, read_json
from perfkit.trace import load_trace
from tests.conftest import TRACES

IMPLEMENTATIONS = ["stdlib"] + (["isal"] if importlib.util.find_spec("isal") else [])


@pytest.fixture(params=IMPLEMENTATIONS)
def inflater(request, monkeypatch):
    """Which library inflates: perfkit's choice (isal where installed), or the stdlib."""
    if request.param == "stdlib":
        monkeypatch.setattr(gunzip, "GzipFile", gzip.GzipFile)
    else:
        from isal import igzip

        assert gunzip.GzipFile is igzip.IGzipFile  # installed, so perfkit uses it
    return request.param


def kernel(i: int) -> dict:
    return {"ph": "X", "cat": "kernel", "name": f"k{i % 3}", "ts": 10 * i, "dur": 5, "pid": 0,
            "tid": 7, "args": {"correlation": i}}  # fmt: skip


def trace_text(n: int = 400) -> bytes:
    return json.dumps({"traceEvents": [kernel(i) for i in range(n)]}).encode()


def test_a_real_gzipped_trace_reads_as_its_plain_text(tmp_path, inflater):
    source = TRACES / "kineto-resnet50-v100-dataloader-num-workers-0.pt.trace.json.gz"
    plain = tmp_path / "t.pt.trace.json"
    plain.write_bytes(gzip.decompress(source.read_bytes()))
    assert dataclasses.asdict(load_trace(source)) == {
        **dataclasses.asdict(load_trace(plain)),
        "path": str(source),
    }


def test_several_gzip_members_read_as_one_text(tmp_path, inflater):
    text = trace_text()
    path = tmp_path / "t.pt.trace.json.gz"
    path.write_bytes(gzip.compress(text[:1000]) + gzip.compress(text[1000:]))
    summary = load_trace(path)
    assert summary.events == 400 and summary.kernels["count"] == 400


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(seed=st.integers(0, 2**32), flips=st.integers(1, 8))
def test_a_corrupt_gzip_is_one_error_naming_the_file(tmp_path, inflater, seed, flips):
    """Bytes changed past the header: ISA-L raises its own IsalError for some of these,
    zlib a zlib.error, both a CRC or length mismatch for the rest."""
    raw = bytearray(gzip.compress(trace_text(), 6))
    rng = random.Random(seed)
    for _ in range(flips):
        raw[rng.randrange(10, len(raw))] ^= rng.randrange(1, 256)
    for name, read in (("t.pt.trace.json.gz", load_trace), ("run.json.gz", read_json)):
        path = tmp_path / name
        path.write_bytes(bytes(raw))
        try:
            read(path)
        except JsonFileError as e:
            assert str(e).startswith(f"{path}: ")
        # A flip that leaves the text valid (or only changes a value) may read: no crash.


@pytest.mark.parametrize("tail", [b"junk", b"\x1f\x8b\x08junk"])
def test_junk_after_the_gzip_is_a_clean_error(tmp_path, inflater, tail):
    path = tmp_path / "t.pt.trace.json.gz"
    path.write_bytes(gzip.compress(trace_text()) + tail)
    with pytest.raises(JsonFileError, match="corrupt or truncated gzip"):
        load_trace(path)
