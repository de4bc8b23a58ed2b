"""Reading any input costs time linear in its size and bounded memory, whatever its layout:
files built to make a parser retry, scan or inflate without end give a clear error, fast."""

from __future__ import annotations

import gzip
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from perfkit import jsonio
from perfkit.analysis.inputs import load_inputs
from perfkit.errors import InputError
from tests.conftest import TRACES
from tests.test_cli import invoke

# Seconds per MB of input: a linear reader takes ~0.05 here; 10x that allows a loaded VM.
SECONDS_PER_MB = 0.5
PREFIX = b'{"traceEvents":[{"ph":"X","cat":"cpu_op","name":"a","ts":1,"dur":1},'


def read_time(path) -> float:
    """Seconds to read ``path`` to a result or a clean InputError (anything else fails)."""
    t0 = time.perf_counter()
    try:
        load_inputs(path)
    except InputError:
        pass
    return time.perf_counter() - t0


def test_a_million_closing_brackets_are_given_up_on_at_once(tmp_path):
    """Each trailing ']' used to retry a parse of the whole tail: minutes."""
    path = tmp_path / "brackets.pt.trace.json.gz"
    path.write_bytes(gzip.compress(PREFIX + b'{"name":"' + b"]" * 1_000_000))
    assert read_time(path) < SECONDS_PER_MB * 1


def test_a_name_of_braces_is_scanned_once(tmp_path):
    """Every '{' of a name was a candidate cut, looked at again for each chunk read."""
    path = tmp_path / "braces.pt.trace.json"
    path.write_bytes(PREFIX[:-1] + b',{"ph":"X","name":"' + b"{" * 8_000_000 + b'","ts":2}]}')
    assert read_time(path) < SECONDS_PER_MB * 8
    assert len(load_inputs(path)[0].trace.events and [1]) == 1  # it still reads


def test_a_device_is_refused_not_read_forever(capsys):
    code, _, err = invoke(capsys, "report", "/dev/zero")
    assert code == 2 and "not a regular file" in err


def test_a_gzip_bomb_stops_at_its_first_bytes(tmp_path):
    path = tmp_path / "bomb.json.gz"
    path.write_bytes(gzip.compress(b"\0" * (64 << 20), 9))  # 64 KB that inflates to 64 MB
    t0 = time.perf_counter()
    with pytest.raises(InputError, match="not valid JSON"):
        load_inputs(path)
    assert time.perf_counter() - t0 < 1.0


def test_a_file_read_whole_is_capped_and_the_flag_raises_the_cap(tmp_path, capsys, monkeypatch):
    path = tmp_path / "big.json.gz"  # no event array: read whole
    path.write_bytes(
        gzip.compress(b'{"schema":"perfkit.run/1","pad":[' + b"1," * (3 << 20) + b"1]}")
    )
    monkeypatch.setattr(jsonio, "MAX_WHOLE_READ_BYTES", 1 << 20)
    code, _, err = invoke(capsys, "report", str(path))
    assert code == 2 and "decompresses to more than" in err and "--max-read" in err
    assert "more than 1 MiB" in err
    code, _, err = invoke(capsys, "report", str(path), "--max-read", "1")
    assert "decompresses to more than" not in err and "missing field 'complete'" in err


def test_a_gzip_bomb_of_valid_events_stops_at_its_limit(tmp_path, capsys, monkeypatch):
    """Valid events that inflate 1,000x stream until the limit, then stop with a clear error
    (limit: --max-read or 100x the file's size, whichever is more); a real trace, 7-30x,
    reads as before."""
    event = b'{"ph":"X","cat":"cpu_op","name":"aten::add","ts":1,"dur":1},'
    text = b'{"traceEvents":[' + event * ((8 << 20) // len(event)) + event[:-1] + b"]}"
    path = tmp_path / "bomb.pt.trace.json.gz"
    path.write_bytes(gzip.compress(text, 9))
    assert len(text) > 100 * path.stat().st_size
    monkeypatch.setattr(jsonio, "MAX_WHOLE_READ_BYTES", 1 << 20)
    t0 = time.perf_counter()
    code, _, err = invoke(capsys, "report", str(path))
    assert code == 2 and "over 100x its size" in err and "--max-read" in err, err
    assert time.perf_counter() - t0 < 5.0
    code, _, err = invoke(capsys, "report", str(path), "--max-read", "1", "-f", "json")
    assert code == 0, err
    code, _, err = invoke(
        capsys, "report", str(TRACES / "hta-v100-nccl-2rank-rank1-ddp.pt.trace.json.gz")
    )
    assert code == 0, err


ADVERSARIAL = st.lists(
    st.sampled_from([b"]", b"[", b"{", b"}", b"},{", b",", b'"', b"\\", b"},", b" "]),
    min_size=1,
    max_size=8,
)


@settings(
    max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(pattern=ADVERSARIAL, repeats=st.integers(min_value=50_000, max_value=400_000))
def test_time_per_byte_is_bounded_on_adversarial_layouts(tmp_path, pattern, repeats):
    body = b"".join(pattern) * (repeats // len(pattern))
    path = tmp_path / "adversarial.pt.trace.json"
    path.write_bytes(PREFIX + b'{"name":"' + body)
    size_mb = path.stat().st_size / 2**20
    assert read_time(path) < 0.5 + SECONDS_PER_MB * size_mb


LONG_LAYOUTS = {
    # One event's name of a million candidate cuts: each would parse the whole pending text.
    "cuts in a string": lambda n: PREFIX + b'{"ph":"X","name":"' + b"},{" * (n // 3) + b'"}]}',
    # A name with no brace at all, then a header with no event array for a long stretch.
    "no brace": lambda n: PREFIX + b'{"ph":"X","name":"' + b"a" * n + b'"}]}',
    "long header": lambda n: b'{"pad":"' + b"a" * n + b'",' + PREFIX[1:] + b'{"ph":"X"}]}',
    "leading spaces": lambda n: b" " * n + PREFIX + b'{"ph":"X"}]}',
}


@pytest.mark.parametrize("layout", sorted(LONG_LAYOUTS))
def test_a_long_stretch_without_a_cut_is_read_in_linear_time(tmp_path, layout):
    """64 MB (gzipped to little) of one layout: each chunk used to search and copy all the
    text pending before it (43 s for the cuts, 5 s for the brace-less name); now a search
    that fails waits until the text has doubled, and text is appended in place."""
    path = tmp_path / "long.pt.trace.json.gz"
    path.write_bytes(gzip.compress(LONG_LAYOUTS[layout](64 << 20), 1))
    assert read_time(path) < 0.15 * 64  # seconds; ~0.3 s on the development machine
