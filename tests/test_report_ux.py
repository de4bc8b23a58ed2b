"""What a newcomer meets at the command line (issue 15): the header names the machine and
the command, paths read from here, unchecked rules fold by reason, --select/--ignore say
what they hide, typos get a suggestion, and `perfkit run -m` works."""

from __future__ import annotations

import json
import re

import pytest

from perfkit import Session, load_run
from perfkit.analysis.engine import analyze
from perfkit.analysis.inputs import load_inputs
from perfkit.evidence import Evidence
from perfkit.findings import Location
from perfkit.report import render
from perfkit.report.text import command_text, location_text, machine_text, not_checked_lines
from perfkit.trace import load_trace
from tests.conftest import REPO, TRACES, perfkit_cli, read_run
from tests.test_cli import invoke

BEFORE = REPO / "reports" / "runs" / "before"
TRACE = TRACES / "hta-a100-alexnet-pageable-htod-syncs.pt.trace.json.gz"


def test_the_machine_is_named_with_its_cores_and_gpu():
    env = {"cpu_model": "AMD EPYC 7B13", "cpu_available": 8, "cpu_count": 64}
    assert machine_text({"device": {"type": "cpu", "name": "x86_64"}, "env": env}) == (
        "CPU (AMD EPYC 7B13, 8 of 64 cores)"
    )
    gpu = {"type": "cuda", "name": "NVIDIA A100"}
    assert machine_text({"device": gpu, "env": {**env, "cpu_available": 64}}) == (
        "NVIDIA A100 · CPU (AMD EPYC 7B13, 64 cores)"
    )
    assert machine_text({"trace": {"device": {"name": "NVIDIA V100"}}}) == "NVIDIA V100"


def test_the_command_is_a_shell_line():
    assert command_text(["train.py", "--name", "a b", "it's"]) == (
        "train.py --name 'a b' 'it'\"'\"'s'"
    )
    main = str(REPO / "perfkit" / "__main__.py")
    assert command_text([main, "reference"]) == "python -m perfkit reference"


def test_paths_under_the_current_directory_read_relative(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    inside = Location(file=str(tmp_path / "src" / "train.py"), line=3, function="step")
    outside = Location(file="/opt/lib/x.py", line=9)
    assert location_text(inside) == "src/train.py:3 in step"
    assert location_text(outside) == "/opt/lib/x.py:9"


def test_a_trace_alone_folds_its_unchecked_rules_into_one_line(capsys):
    report = analyze([Evidence(trace=load_trace(TRACE))])
    folded = not_checked_lines(report)
    every = not_checked_lines(report, verbose=True)
    assert len(every) == len(report.not_checked) and len(folded) < len(every) - 5
    (line,) = [rules for rules, reason in folded if "needs a run file" in reason]
    assert line.startswith("PK103, PK104") and "rules)" in line
    code, out, _ = invoke(capsys, "report", str(TRACE))
    assert code == 0 and out.count("needs a run file (this is a trace only)") == 1
    code, out, _ = invoke(capsys, "report", str(TRACE), "-v")
    assert out.count("needs a run file (this is a trace only)") > 5


def test_terminal_lines_end_without_spaces(capsys):
    code, out, _ = invoke(capsys, "report", str(TRACE))
    assert code == 0 and not re.search(r" +$", out, re.M)


def test_select_and_ignore_say_how_many_findings_they_leave_out(capsys):
    _, everything, _ = invoke(capsys, "report", str(BEFORE), "-f", "json")
    total = len(json.loads(everything)["findings"])
    code, out, _ = invoke(capsys, "report", str(BEFORE), "--select", "PK1", "-f", "json")
    shown = json.loads(out)
    assert len(shown["findings"]) + shown["summary"]["filtered_out"] == total
    assert shown["summary"]["filtered_out"] > 0
    _, text, _ = invoke(capsys, "report", str(BEFORE), "--select", "PK1")
    assert f"({shown['summary']['filtered_out']} more left out by --select/--ignore)" in text


@pytest.mark.parametrize(
    ("typed", "meant"), [("host-synk", "host-sync"), ("data-starve", "data-starved")]
)
def test_a_misspelt_rule_gets_a_suggestion(capsys, typed, meant):
    code, _, err = invoke(capsys, "report", str(BEFORE), "--select", typed)
    assert code == 2 and f"did you mean '{meant}'?" in err
    code, _, err = invoke(capsys, "explain", typed)
    assert code == 2 and f"did you mean '{meant}'?" in err


def test_a_script_given_to_report_points_to_perfkit_run(capsys, tmp_path):
    script = tmp_path / "my train.py"
    script.write_text("print(1)\n")
    code, _, err = invoke(capsys, "report", str(script))
    assert code == 2 and f"perfkit run '{script}'" in err


def test_the_header_names_what_marked_the_steps(tmp_path):
    with Session(tmp_path / "run", window=None, sample_hz=0, quiet=True) as session:
        for _ in range(3):
            with session.step():
                pass
    report = analyze([Evidence(run=load_run(tmp_path / "run"))])
    assert "3 (boundaries: Session.step())" in render(report, "terminal")


def test_run_m_runs_a_module_with_its_arguments(tmp_path):
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "__init__.py").write_text("")
    (tmp_path / "pkg" / "train.py").write_text(
        "import sys, torch\n"
        "print('args', sys.argv[1:], __name__)\n"
        "model = torch.nn.Linear(2, 1)\n"
        "opt = torch.optim.SGD(model.parameters(), 0.1)\n"
        "for _ in range(4):\n"
        "    model(torch.randn(2, 2)).sum().backward(); opt.step(); opt.zero_grad()\n"
    )
    out = perfkit_cli(
        "run", "--window", "off", "-o", "r", "-m", "pkg.train", "--lr", "1", cwd=tmp_path
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "args ['--lr', '1'] __main__"
    assert len(read_run(tmp_path / "r").steps) == 4
    missing = perfkit_cli("run", "-m", "no_such_module", cwd=tmp_path)
    assert missing.returncode == 2 and "no_such_module" in missing.stderr


def test_a_window_longer_than_the_run_says_no_trace_was_recorded(tmp_path):
    script = tmp_path / "short.py"
    script.write_text(
        "import torch\nm = torch.nn.Linear(2, 1)\nopt = torch.optim.SGD(m.parameters(), 0.1)\n"
        "for _ in range(3):\n    m(torch.randn(2, 2)).sum().backward(); opt.step()\n"
    )
    assert perfkit_cli("run", "-o", tmp_path / "r", script).returncode == 0
    out = perfkit_cli("report", tmp_path / "r")
    assert "no profiler trace was recorded: the window 5,1,3 needs 9 steps" in out.stdout


def test_big_traces_are_read_with_a_progress_bar_on_a_terminal(monkeypatch):
    """The stream tells how far it has read; the bar listens only while a command reads,
    and only on a terminal (here forced, with the size threshold lowered)."""
    from perfkit import progress
    from perfkit.trace import stream

    heard = []
    stream.observers.append(lambda path, done, total: heard.append((done, total)))
    try:
        load_trace(TRACE)
    finally:
        stream.observers.clear()
    size = TRACE.stat().st_size
    assert heard and all(t == size for _, t in heard) and heard[-1][0] == size
    assert [d for d, _ in heard] == sorted(d for d, _ in heard)

    monkeypatch.setattr(progress, "MIN_BYTES", 0)
    with progress.reading(True):
        assert len(stream.observers) == 1
        load_trace(TRACE)
    assert stream.observers == []
    with progress.reading(False):
        assert stream.observers == []


def _job(folder, ranks: int):
    """A job of ``ranks`` rank files, made from the PK601 fixture's first rank."""
    rank0 = REPO / "tests" / "rules" / "PK601" / "clean" / "run.rank0.json"
    template = json.loads(rank0.read_text())
    folder.mkdir()
    for rank in range(ranks):
        template["env"]["distributed"].update(rank=rank, world_size=ranks)
        (folder / f"run.rank{rank}.json").write_text(json.dumps(template))
    return folder


def test_many_rank_files_are_read_with_a_progress_bar_on_a_terminal(tmp_path, monkeypatch):
    """Issue 15: a job of many ranks shows files read of all (a bar from 16 files, or once
    reading has taken 2 s), on a terminal only; a bar per trace stays for big traces."""
    from rich.progress import Progress

    from perfkit import progress
    from perfkit.analysis import inputs

    heard = []
    inputs.observers.append(lambda *told: heard.append(told))
    traces = TRACES / "hta-sampled-128rank-job"
    try:
        load_inputs(_job(tmp_path / "job", 20))
        load_inputs(traces)
    finally:
        inputs.observers.clear()
    folder = str(tmp_path / "job")
    assert heard[:21] == [(folder, done, 20, "rank files") for done in range(21)]
    assert heard[21:] == [(str(traces), done, 2, "traces") for done in range(3)]

    bars = []
    real = Progress.add_task
    monkeypatch.setattr(
        Progress, "add_task", lambda bar, name, **kw: bars.append(name) or real(bar, name, **kw)
    )
    with progress.reading(True):
        load_inputs(tmp_path / "job")
        load_inputs(_job(tmp_path / "small", 4))  # quick: no bar
    assert bars == ["reading rank files of job"] and inputs.observers == []
    monkeypatch.setattr(progress, "SLOW_S", 0.0)  # a few files that take long get one too
    with progress.reading(True):
        load_inputs(tmp_path / "small")
    assert bars[1:] == ["reading rank files of small"]
    with progress.reading(False):  # not a terminal
        assert inputs.observers == []
