"""Reading run files: every bad input is one clear error naming the file."""

from __future__ import annotations

import json
import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from perfkit.runfile import SCHEMA, RunFileError, load_run, run_from_dict, write_json_atomic

MINIMAL = {"schema": SCHEMA, "complete": True, "env": {}, "config": {}, "steps": [], "sites": []}


def _write(tmp_path, content: bytes | str, name="run.json"):
    p = tmp_path / name
    p.write_bytes(content.encode() if isinstance(content, str) else content)
    return p


def test_minimal_run_loads(tmp_path):
    run = load_run(_write(tmp_path, json.dumps(MINIMAL)))
    assert run.complete and run.steps == () and run.traces == ()


def test_directory_means_its_run_json(tmp_path):
    _write(tmp_path, json.dumps(MINIMAL))
    assert load_run(tmp_path).complete


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (b"", "the file is empty"),
        (b"   \n", "the file is empty"),
        (b"not json", "not valid JSON"),
        (json.dumps(MINIMAL)[:-7].encode(), "not valid JSON"),
        (b"\xff\xfe\x00garbage", "not valid JSON"),
        (b"[1, 2]", "top level is not an object"),
        (json.dumps({**MINIMAL, "schema": "other/1"}).encode(), "not a perfkit run file"),
        (json.dumps({**MINIMAL, "schema": "perfkit.run/99"}).encode(), "newer perfkit"),
        (json.dumps({**MINIMAL, "schema": "perfkit.run/x"}).encode(), "unknown schema version"),
        (
            json.dumps({k: v for k, v in MINIMAL.items() if k != "steps"}).encode(),
            "missing field 'steps'",
        ),
        (json.dumps({**MINIMAL, "steps": {}}).encode(), "field 'steps' should be a list"),
        (json.dumps({**MINIMAL, "steps": [{"wall_ms": "1"}]}).encode(), "step record 0"),
    ],
)
def test_bad_run_files_name_the_file_and_problem(tmp_path, content, problem):
    p = _write(tmp_path, content)
    with pytest.raises(RunFileError) as caught:
        load_run(p)
    assert str(caught.value).startswith(f"{p}: ")
    assert problem in str(caught.value)


def test_missing_file_and_empty_directory(tmp_path):
    with pytest.raises(RunFileError, match="no such file"):
        load_run(tmp_path / "nope.json")
    with pytest.raises(RunFileError, match="no such file"):
        load_run(tmp_path)


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads everything")
def test_unreadable_file(tmp_path):  # pragma: no cover - CI runs as root
    p = _write(tmp_path, json.dumps(MINIMAL))
    p.chmod(0)
    with pytest.raises(RunFileError, match="permission denied"):
        load_run(p)


@settings(max_examples=200, deadline=None)
@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
        lambda kids: st.lists(kids) | st.dictionaries(st.text(), kids),
        max_leaves=20,
    )
)
def test_reader_rejects_any_json_value_cleanly(value):
    try:
        run_from_dict(value)
    except RunFileError:
        pass


@settings(max_examples=100, deadline=None)
@given(
    st.dictionaries(
        st.sampled_from(sorted(MINIMAL) + ["samples", "traces"]),
        st.none() | st.integers() | st.text() | st.lists(st.integers()),
    )
)
def test_reader_survives_odd_field_values(overrides):
    try:
        run = run_from_dict({**MINIMAL, **overrides})
    except RunFileError:
        return
    assert isinstance(run.steps, tuple)


def test_atomic_write_leaves_no_temp_files(tmp_path):
    target = tmp_path / "run.json"
    write_json_atomic(target, MINIMAL)
    write_json_atomic(target, {**MINIMAL, "complete": False})
    assert os.listdir(tmp_path) == ["run.json"]
    assert load_run(target).complete is False


def test_failed_write_keeps_the_old_file(tmp_path):
    target = tmp_path / "run.json"
    write_json_atomic(target, MINIMAL)
    with pytest.raises(ValueError):
        write_json_atomic(target, {**MINIMAL, "bad": float("nan")})
    assert load_run(target).complete and os.listdir(tmp_path) == ["run.json"]


def test_documented_top_level_keys_match_what_capture_writes(tmp_path):
    """docs/run-format.md lists every top-level key a run file has, and no other."""
    import re

    from tests.conftest import REPO, capture

    doc = (REPO / "docs" / "run-format.md").read_text()
    table = doc.split("## Top level", 1)[1].split("\n## ", 1)[0]
    documented = set(re.findall(r"^\| `(\w+)` \|", table, flags=re.M))
    capture(tmp_path / "run", lambda: None, steps=2)
    written = json.loads((tmp_path / "run" / "run.json").read_text())
    assert documented == set(written)


def test_run_file_gets_ordinary_permissions(tmp_path):
    """mkstemp creates 0600 files; a run file should be readable like any other file."""
    target = tmp_path / "run.json"
    write_json_atomic(target, MINIMAL)
    mask = os.umask(0)
    os.umask(mask)
    assert target.stat().st_mode & 0o777 == 0o666 & ~mask
