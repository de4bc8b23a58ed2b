"""A thousand ranks (issue 14): rank summaries, reading rank files in a pool, the profiler
window on a subset of ranks. Real 2-rank jobs are in test_ddp.py."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from perfkit import judge_version
from perfkit.analysis import rankfiles
from perfkit.analysis.engine import analyze, analyze_job
from perfkit.analysis.inputs import load_inputs
from perfkit.analysis.rankfiles import load_job, report_path, summarize_file
from perfkit.analysis.ranks import Job
from perfkit.analysis.reduce import reduce_rank
from perfkit.capture.session import Session
from perfkit.capture.window_ranks import WindowRanks, sampled_ranks
from perfkit.ranksummary import RankSummary, read_summary, summary_path, write_summary
from perfkit.report.jsonfmt import report_to_json
from perfkit.runfile import rank_files
from tests.conftest import QUICK, REPO
from tests.test_cli import invoke

STRAGGLER = REPO / "tests" / "rules" / "PK601" / "trigger"  # 4 ranks, rank 2 starved


def job_copy(tmp_path: Path, summaries: bool) -> Path:
    """The 4-rank straggler job in a folder of its own, with or without summaries."""
    out = tmp_path / "job"
    shutil.copytree(STRAGGLER, out)
    if summaries:
        for f in rank_files(out):
            write_summary(f, summarize_file(f))
    return out


def verdicts(report) -> dict:
    """What a report decides: findings, rules not checked, the rank table and spread."""
    data = report_to_json(report)
    keys = ("ranks", "slowest_rank", "rank_steps", "rules_judged", "filtered_out", "notices")
    return {
        "findings": data["findings"],
        "not_checked": data["not_checked"],
        **{k: data["summary"].get(k) for k in keys},
    }


def test_a_summary_reads_back_as_it_was_written(tmp_path):
    run_file = job_copy(tmp_path, summaries=False) / "run.rank2.json"
    summary = summarize_file(run_file)
    path = write_summary(run_file, summary)
    assert path.name == "summary.rank2.json" and summary_path(run_file) == path
    back = read_summary(path, source=summary.source)
    assert back == summary
    assert back.rank == 2 and back.run_file == "run.rank2.json"
    assert back.run_bytes == run_file.stat().st_size
    assert [f.code for f in back.findings] == ["PK301"]
    assert len(back.phases.i) == len(back.phases.step_ms) > 0
    assert RankSummary.from_json(json.loads(path.read_text()), back.source) == summary


def test_a_job_reads_the_same_from_summaries_as_from_run_files(tmp_path):
    with_summaries = report_path(job_copy(tmp_path / "a", summaries=True))
    from_files = report_path(job_copy(tmp_path / "b", summaries=False))
    in_memory = analyze(load_inputs(STRAGGLER))
    assert with_summaries.summary["job"]["read"] == "4 rank summaries"
    assert from_files.summary["job"]["read"].startswith("4 rank files without a fresh summary")
    assert verdicts(with_summaries)["findings"]  # the straggler and its starved loader
    strip = {"source"}  # the folders differ

    def same(report) -> dict:
        v = verdicts(report)
        v["findings"] = [{k: x for k, x in f.items() if k not in strip} for f in v["findings"]]
        v["ranks"] = [{k: x for k, x in r.items() if k not in strip} for r in v["ranks"]]
        return v

    assert same(with_summaries) == same(from_files) == same(in_memory)


def test_a_finding_on_several_ranks_is_one_finding_listing_them():
    units = load_inputs(STRAGGLER)
    summaries = [reduce_rank(u) for u in units]
    [starved] = summaries[2].findings
    starved_on_2 = replace(starved, saving_ms=4.0)
    milder = replace(starved, saving_ms=2.0, message="less")  # on the others it costs less
    starved_on_all = tuple(
        replace(s, findings=(starved_on_2 if s.rank == 2 else milder,)) for s in summaries
    )
    report = analyze_job(Job(units[0], starved_on_all, "4 rank summaries"))
    [merged] = [f for f in report.findings if f.rule == "data-starved"]
    assert merged.message != "less"
    assert merged.ranks == (0, 1, 2, 3) and merged.source.endswith("run.rank2.json")
    assert report_to_json(report)["findings"][1]["ranks"] == [0, 1, 2, 3]


def test_rank_files_read_in_a_pool_give_the_report_read_in_this_process(tmp_path, monkeypatch):
    folder = job_copy(tmp_path, summaries=False)
    serial = load_job(folder, workers=1)
    monkeypatch.setattr(rankfiles, "POOL_FROM", 2)
    pooled = load_job(folder, workers=2)
    assert serial is not None and pooled is not None
    assert "in 2 worker processes" in pooled.read and "in this process" in serial.read
    assert [s.rank for s in pooled.ranks] == [0, 1, 2, 3]
    assert [replace(s, cost_s=0) for s in pooled.ranks] == [
        replace(s, cost_s=0) for s in serial.ranks
    ]


def test_a_stale_summary_is_not_used(tmp_path):
    folder = job_copy(tmp_path, summaries=True)
    run_file = folder / "run.rank3.json"
    run_file.write_text(run_file.read_text() + " ")  # a newer run file: another size
    job = load_job(folder)
    assert job is not None and job.read.startswith("3 rank summaries; 1 rank file without")
    tuned = load_job(folder, thresholds={"": {"warning-share": 0.5}})
    assert tuned is not None and tuned.read.startswith("4 rank files without a fresh summary")


def test_a_summary_judged_by_other_code_is_not_used(tmp_path):
    """Same version, another rule: a summary written before the judging code changed (or
    by a perfkit that recorded its version alone) is reduced again."""
    folder = job_copy(tmp_path, summaries=True)
    path = folder / "summary.rank1.json"
    data = json.loads(path.read_text())
    assert data["perfkit"] == judge_version.judge_version()
    data["perfkit"] = judge_version.__version__
    path.write_text(json.dumps(data))
    job = load_job(folder)
    assert job is not None and job.read.startswith("3 rank summaries; 1 rank file without")


def test_the_judge_version_follows_the_judging_code(tmp_path, monkeypatch):
    """A rule, a severity cut-off (findings.py) or the sketch changed: another digest. A
    report renderer changed: the same (its summaries still hold)."""
    package = Path(judge_version.__file__).parent
    copy = tmp_path / "perfkit"
    shutil.copytree(package, copy, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(judge_version, "_PACKAGE", copy)

    def digest_after(edit: str) -> str:
        source = copy / edit
        source.write_text(source.read_text() + "# changed\n")
        judge_version.judge_version.cache_clear()
        return judge_version.judge_version()

    try:
        judge_version.judge_version.cache_clear()
        first = judge_version.judge_version()
        assert first.startswith(judge_version.__version__ + "+")
        assert digest_after("report/text.py") == first
        assert digest_after("capture/session.py") == first
        seen = {first}
        for edit in ("rules/pk301_data_starved.py", "findings.py", "sketch.py"):
            seen.add(digest_after(edit))
        assert len(seen) == 4
    finally:
        judge_version.judge_version.cache_clear()


def test_a_malformed_summary_is_one_error_naming_the_file_and_field(tmp_path, capsys):
    folder = job_copy(tmp_path, summaries=True)
    path = folder / "summary.rank2.json"
    data = json.loads(path.read_text())
    data["phases"]["step_ms"][3] = "fast"
    path.write_text(json.dumps(data))
    code, _, err = invoke(capsys, "report", str(folder))
    assert code == 2
    assert str(path) in err and "field 'phases.step_ms[3]' should be a number, not str" in err
    path.write_text("{")
    code, _, err = invoke(capsys, "report", str(folder))
    assert code == 2 and str(path) in err and "not valid JSON" in err


def test_the_window_records_on_rank_0_each_nodes_first_rank_and_a_few_others():
    auto = WindowRanks.parse("auto")
    world, per_node = 1024, 8
    recording = [r for r in range(world) if not auto.why_not(r, r % per_node, world)]
    nodes = list(range(0, world, per_node))
    others = sorted(set(recording) - set(nodes))
    assert set(nodes) <= set(recording) and 0 in recording
    assert len(others) <= 4 and set(others) <= sampled_ranks(world)
    assert sampled_ranks(world) == sampled_ranks(world)  # every rank picks the same
    assert "rank 0, each node's local rank 0" in auto.why_not(5, 5, world)
    assert not WindowRanks.parse("all").why_not(5, 5, world)
    listed = WindowRanks.parse([0, 5])
    assert str(listed) == "0,5" and WindowRanks.parse("0, 5") == listed
    assert not listed.why_not(5, 5, world) and "not one of window_ranks 0,5" in listed.why_not(
        1, 1, world
    )
    for bad in ("some", "", [-1], [], [True], 3):
        with pytest.raises(ValueError, match="window_ranks must be"):
            WindowRanks.parse(bad)


def test_a_rank_left_out_of_the_window_marks_its_steps_and_says_why(tmp_path, monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "64")
    monkeypatch.setenv("RANK", "9")
    monkeypatch.setenv("LOCAL_RANK", "1")
    session = Session(tmp_path / "job", **{**QUICK, "window": (1, 1, 2)}, window_ranks=[0])
    assert session.window is None
    info = session.capture_info()
    assert info["window_ranks"] == "0" and info["window_off"] == "not one of window_ranks 0"
    assert [session.work.phase(i) for i in range(5)] == ["", "peer", "peer", "peer", ""]
    monkeypatch.setenv("RANK", "0")
    assert Session(tmp_path / "j2", **{**QUICK, "window": (1, 1, 2)}).window is not None


def test_window_ranks_is_checked_before_training(capsys, tmp_path):
    code, _, err = invoke(capsys, "run", "--window-ranks", "most", str(tmp_path / "x.py"))
    assert code == 2 and "expected auto, all, or ranks such as 0,5" in err


def test_text_reports_show_the_slowest_ranks_of_a_big_job():
    from perfkit.findings import Report
    from perfkit.report import render

    rows = [
        {"rank": r, "step_ms": 100.0 + (r == 700) * 50, "data_wait_ms": 1.0} for r in range(1024)
    ]
    summary = {
        "ranks": rows,
        "slowest_rank": {"rank": 700, "step_ms": 150.0, "vs_median_pct": 50.0},
    }
    text = render(Report(summary=summary, findings=(), not_checked=()), "terminal", width=120)
    table = text[text.index(" rank ") : text.index("slowest rank:")]
    assert len(table.splitlines()) == 1 + 16 + 1  # header, 16 ranks, the note
    assert table.splitlines()[1].split()[0] == "700"
    assert "the 16 slowest of 1024 ranks; every rank in -f json or -f html" in text
    markdown = render(Report(summary=summary, findings=(), not_checked=()), "markdown")
    assert markdown.count("\n| ") == 1 + 16 and "the 16 slowest of 1024 ranks" in markdown


def test_a_pool_reads_rank_files_for_a_script_fed_on_standard_input(tmp_path):
    """The workers start by fork when nothing else runs: a fresh interpreter would look for
    the main script (here "<stdin>") and die."""
    folder = job_copy(tmp_path, summaries=False)
    script = (
        "import perfkit\n"
        "from perfkit.analysis import rankfiles\n"
        "rankfiles.POOL_FROM = 2\n"
        f"print(perfkit.analyze({str(folder)!r}).summary['job']['read'])\n"
    )
    done = subprocess.run(
        [sys.executable, "-"], input=script, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().endswith("reduced in 2 worker processes")
