"""DDP under torchrun (gloo, CPU): per-rank run files, and the straggler named with its phase."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from perfkit.analysis.engine import analyze
from perfkit.analysis.inputs import load_inputs
from perfkit.analysis.rankfiles import report_path
from perfkit.report.jsonfmt import report_to_json
from perfkit.report.text import header_facts
from perfkit.runfile import rank_files
from tests.conftest import REPO, read_run

pytestmark = pytest.mark.skipif(
    not __import__("torch").distributed.is_available(), reason="torch.distributed missing"
)


def run_two_ranks(*launched: str) -> None:
    """``torchrun --standalone --nproc_per_node 2 ...``; on failure, say why a rank died."""
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]
    result = subprocess.run(
        [*cmd, *launched], capture_output=True, text=True, timeout=300, cwd=REPO
    )
    # torchrun's own report ends stderr; a rank's reason (e.g. "terminate called ...") is earlier.
    reasons = [
        ln for ln in result.stderr.splitlines() if re.search(r"terminate|what\(\)|Error", ln)
    ]
    assert result.returncode == 0, "\n".join(reasons[:20]) + result.stderr[-1500:]


def torchrun(
    out, *inject: str, steps: int = 24, window: str = "off", window_ranks: str = "auto"
) -> None:
    """Two gloo ranks of the reference CNN under torchrun."""
    args = ["-m", "perfkit", "reference", "--ddp", "--preset", "cnn", "--steps", str(steps)]
    args += ["--window", window, "--window-ranks", window_ranks]
    args += ["--sample-hz", "0", "-o", str(out)]
    if inject:
        args += ["--inject", ",".join(inject)]
    run_two_ranks(*args)


@pytest.fixture(scope="module")
def straggler_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("ddp") / "straggler"
    torchrun(out, "rank-straggler")
    return out


@pytest.fixture(scope="module")
def clean_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("ddp") / "clean"
    torchrun(out)
    return out


def test_each_rank_writes_its_own_run_file(clean_run):
    files = rank_files(clean_run)
    assert [f.name for f in files] == ["run.rank0.json", "run.rank1.json"]
    for rank, f in enumerate(files):
        run = read_run(f)
        assert run.complete and len(run.steps) == 24
        assert run.env["distributed"] == {
            "rank": rank,
            "world_size": 2,
            "backend": "gloo",
            "local_rank": rank,
            "local_world_size": 2,
        }


def test_straggler_is_named_with_its_phase(straggler_run):
    report = analyze(load_inputs(straggler_run))
    [finding] = [f for f in report.findings if f.rule == "rank-straggler"]
    assert finding.evidence["rank"] == 1 and finding.evidence["phase"] == "data_wait_ms"
    assert finding.message.startswith("rank 1 is the straggler: waiting for data")
    assert [r["rank"] for r in report.summary["ranks"]] == [0, 1]


def test_clean_job_has_no_straggler(clean_run):
    report = analyze(load_inputs(clean_run))
    assert "rank-straggler" not in {f.rule for f in report.findings}
    assert len(report.summary["ranks"]) == 2 and report.summary["slowest_rank"] is not None


def test_rank_straggler_needs_ddp(tmp_path):
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "perfkit",
            "reference",
            "--preset",
            "cnn",
            "--inject",
            "rank-straggler",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
    )
    assert out.returncode == 2 and "needs --ddp" in out.stderr


def test_compare_of_two_jobs_uses_slowest_and_median_rank(straggler_run, clean_run, capsys):
    from tests.test_cli import invoke

    code, out, _ = invoke(capsys, "compare", str(straggler_run), str(clean_run), "-f", "json")
    data = __import__("json").loads(out)
    assert code == 0 and data["schema"] == "perfkit.compare/2"
    assert {"slowest_rank", "median_rank"} <= set(data)
    assert data["slowest_rank"]["base"].endswith("run.rank1.json")
    assert data["slowest_rank"]["speedup"] > 1.3  # the slow decoding is gone
    assert "PK301 data-starved" in data["slowest_rank"]["fixed"]


def test_perfkit_run_under_torchrun_writes_one_file_per_rank(tmp_path):
    perfkit = Path(sys.executable).with_name("perfkit")
    out = tmp_path / "job"
    script = str(REPO / "tests" / "scripts" / "ddp_train.py")
    run_two_ranks("--no-python", str(perfkit), "run", "--window", "off", "-o", str(out), script)
    runs = [read_run(f) for f in rank_files(out)]
    assert [r.env["distributed"]["rank"] for r in runs] == [0, 1]
    # 16 optimizer steps per rank: the first step ends at the first of them
    assert all(r.capture["step_source"] == "optimizer" and len(r.steps) == 16 for r in runs)


@pytest.fixture(scope="module")
def traced_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("ddp") / "traced"
    torchrun(out, steps=10, window="3,1,2")
    return out


@pytest.fixture(scope="module")
def rank0_traced_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("ddp") / "rank0-traced"
    torchrun(out, "rank-straggler", steps=10, window="3,1,2", window_ranks="0")
    return out


def test_gloo_collectives_in_cpu_traces_are_judged(traced_run):
    out = traced_run
    units = load_inputs(out)
    assert all(u.trace is not None and u.trace.kernels["comm_cpu"] >= 1 for u in units)
    report = analyze(units)
    assert "comm-bound" not in {n.rule for n in report.not_checked}


def verdicts(report) -> dict:
    """What a report of a job decides, its folder left out: findings, rules not checked,
    the rank table, the slowest rank and the spread of steps over the ranks."""
    data = report_to_json(report)
    s = data["summary"]
    folder = str(Path(s["sources"][0]).parent)
    text = json.dumps(
        {
            "findings": data["findings"],
            "not_checked": data["not_checked"],
            **{k: s.get(k) for k in ("ranks", "slowest_rank", "rank_steps", "rules_judged")},
        }
    )
    return json.loads(text.replace(folder, "DIR"))


@pytest.mark.parametrize("job", ["straggler_run", "clean_run", "traced_run", "rank0_traced_run"])
def test_the_report_reads_the_same_from_the_ranks_summaries_as_from_their_run_files(
    job, request, tmp_path
):
    """Issue 14: each rank writes its summary at close; a report of the summaries alone
    judges the job as a report of the run files and traces does."""
    folder = request.getfixturevalue(job)
    assert [p.name for p in sorted(folder.glob("summary.rank*.json"))] == [
        "summary.rank0.json",
        "summary.rank1.json",
    ]
    from_summaries = report_path(folder)
    assert from_summaries.summary["job"]["read"] == "2 rank summaries"
    raw = tmp_path / "raw"
    shutil.copytree(folder, raw)
    for summary in raw.glob("summary.rank*.json"):
        summary.unlink()
    from_files = report_path(raw)
    assert from_files.summary["job"]["read"].startswith("2 rank files without a fresh summary")
    assert verdicts(from_summaries) == verdicts(from_files)


def test_by_choice_only_rank_0_records_the_window_and_rank_1_says_so(rank0_traced_run):
    first, second = (read_run(f) for f in rank_files(rank0_traced_run))
    assert first.traces and not second.traces
    assert second.capture["window_off"] == "not one of window_ranks 0"
    # Rank 1 leaves out of its timing the steps it waited for rank 0's window.
    assert [s.get("phase", "") for s in second.steps[3:7]] == ["peer", "peer", "peer", ""]
    report = report_path(rank0_traced_run)
    assert report.summary["job"]["profiled_ranks"] == [0]
    assert "comm-bound" not in {n.rule for n in report.not_checked}
    facts = dict(header_facts(report))
    assert facts["Ranks"] == "2, read from 2 rank summaries"
    assert facts["Profiled ranks"] == (
        "0 (1 of 2); the others record none: not one of window_ranks 0"
    )
    [straggler] = [f for f in report.findings if f.rule == "rank-straggler"]
    assert straggler.evidence["rank"] == 1
