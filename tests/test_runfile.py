"""Reading run files: every bad input is one clear error naming the file."""

from __future__ import annotations

import json
import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from perfkit.atomicfile import write_atomic
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


def test_unreadable_file(tmp_path, monkeypatch):
    """A file the process may not read (root reads everything, so the refusal is made up)."""
    from perfkit import jsonio

    p = _write(tmp_path, json.dumps(MINIMAL))

    def refuse(path, *args, **kwargs):
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(jsonio, "open", refuse, raising=False)
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

    def half_then_fail(f):
        f.write('{"schema": ')
        raise OSError("disk full")

    with pytest.raises(OSError):
        write_atomic(target, half_then_fail)
    assert load_run(target).complete and os.listdir(tmp_path) == ["run.json"]


def test_non_finite_numbers_are_written_as_null(tmp_path):
    target = tmp_path / "run.json"
    write_json_atomic(target, {**MINIMAL, "odd": [float("nan"), float("inf")]})
    assert json.loads(target.read_text())["odd"] == [None, None]
    write_json_atomic(target, {**MINIMAL, "big": 2**70})  # past orjson's integers
    assert json.loads(target.read_text())["big"] == 2**70


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


def _real_run() -> dict:
    from tests.conftest import REPO

    return json.loads((REPO / "reports" / "runs" / "before" / "run.json").read_text())


def _mutate(data: dict, path: str, value) -> dict:
    """``data`` with the field at ``path`` (``steps.3.wall_ms``) set to ``value``."""
    *parents, last = path.split(".")
    node = data
    for key in parents:
        node = node[int(key)] if isinstance(node, list) else node[key]
    node[int(last) if isinstance(node, list) else last] = value
    return data


def _first_sync_step(data: dict) -> int:
    return next(i for i, s in enumerate(data["steps"]) if s.get("events", {}).get("syncs"))


# Malformed but parseable run files: each is one error naming the field.
MUTATIONS = [
    ("steps.3.wall_ms", "12", "step record 3 is malformed: field 'steps[3].wall_ms' should be a"),
    ("steps.4", [1], "step record 4 is malformed: field 'steps[4]' should be an object"),
    ("sites.0.line", "forty", "field 'sites[0].line' should be an integer"),
    ("sites.0", "train.py:40", "field 'sites[0]' should be an object"),
    ("traces", [1, 2], "field 'traces[0]' should be a string"),
    ("env.device", ["cuda", 0], "field 'env.device' should be an object"),
    ("samples.series.t", "0.1", "field 'samples.series.t' should be a list"),
    ("config.dataloaders", {"num_workers": 0}, "field 'config.dataloaders' should be a list"),
    ("probe.host_read_sites", [10**6], "refers to site 1000000"),
    ("complete", "yes", "field 'complete' should be true or false"),
]


@pytest.mark.parametrize(("path", "value", "problem"), MUTATIONS, ids=[m[0] for m in MUTATIONS])
def test_a_malformed_run_file_names_the_field(tmp_path, path, value, problem):
    p = _write(tmp_path, json.dumps(_mutate(_real_run(), path, value)))
    with pytest.raises(RunFileError) as caught:
        load_run(p)
    assert str(caught.value).startswith(f"{p}: ") and problem in str(caught.value)


@pytest.mark.parametrize("index", [-1, 10**9])
def test_a_site_index_out_of_range_is_refused(tmp_path, index):
    data = _real_run()
    step = _first_sync_step(data)
    _mutate(data, f"steps.{step}.events.syncs.sites.0.site", index)
    with pytest.raises(RunFileError, match=rf"steps\[{step}\].events.syncs.sites\[0\].site"):
        load_run(_write(tmp_path, json.dumps(data)))


def test_report_on_a_malformed_run_file_exits_2_in_one_line(tmp_path, capsys):
    from perfkit.cli import main

    p = _write(tmp_path, json.dumps(_mutate(_real_run(), "sites.0.line", "forty")))
    with pytest.raises(SystemExit) as caught:
        main(["report", str(p)])
    err = capsys.readouterr().err
    assert caught.value.code == 2
    assert err.count("\n") == 1 and "field 'sites[0].line'" in err and str(p) in err


def test_the_typed_run_writes_back_what_it_read():
    from perfkit.runmodel import Run

    run = Run.from_json(_real_run(), "before")
    assert Run.from_json(run.to_json(), "before") == run
    assert run.steps[1].period_ms == run.steps[1].wall_ms + run.steps[1].outside_ms


def _paths(node, prefix=()) -> list[tuple]:
    """Every field of a decoded JSON document, containers included, as key paths."""
    items = node.items() if isinstance(node, dict) else enumerate(node)
    found = []
    for key, child in items:
        found.append((*prefix, key))
        if isinstance(child, (dict, list)) and child:
            found += _paths(child, (*prefix, key))
    return found


REAL_PATHS = _paths(_real_run())
HOSTILE = [
    None,
    True,
    0,
    -1,
    2**63,
    -(10**30),
    0.5,
    -1e308,
    1e308,
    "",
    "12",
    "$\\foo{$",
    [],
    [1],
    {},
]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    edits=st.lists(
        st.tuples(st.sampled_from(REAL_PATHS), st.sampled_from(HOSTILE)), min_size=1, max_size=3
    )
)
def test_any_field_of_a_real_run_replaced_is_refused_or_reported(edits):
    """A real run.json with fields replaced by values of every wrong type or range: either
    a one-line RunFileError naming the file, or a report in every text format in which no rule
    failed inside."""
    from perfkit.analysis.engine import analyze
    from perfkit.evidence import Evidence
    from perfkit.report import render

    data = _real_run()
    for path, value in edits:
        node = data
        try:
            for key in path[:-1]:
                node = node[key]
            node[path[-1]] = value
        except (TypeError, KeyError, IndexError):
            continue  # an earlier edit replaced a parent of this field
    try:
        run = run_from_dict(json.loads(json.dumps(data)), "run.json")
    except RunFileError as e:
        assert str(e).startswith("run.json: ") and "\n" not in str(e)
        return
    report = analyze([Evidence(run=run)])
    assert not [n for n in report.not_checked if "internal error" in n.reason], edits
    for fmt in ("terminal", "markdown", "json"):
        assert render(report, fmt)
