"""The command line as a user meets it: help, errors, `perfkit run` on plain scripts."""

from __future__ import annotations

import os
import signal
import subprocess
import time

import pytest

from perfkit.cli import SUBCOMMANDS, main
from perfkit.report import FORMATS
from tests.conftest import REPO, read_run, start_forever, steps_written
from tests.conftest import perfkit_cli as perfkit

SCRIPTS = REPO / "tests" / "scripts"


def invoke(capsys, *args):
    with pytest.raises(SystemExit) as caught:
        main(list(args))
    out = capsys.readouterr()
    return caught.value.code, out.out, out.err


@pytest.mark.parametrize("args", [[], *([name] for name in SUBCOMMANDS)])
def test_help_is_clear(capsys, args):
    code, out, _ = invoke(capsys, *args, "--help")
    assert code == 0
    assert out.startswith("Usage: perfkit")
    assert "Example" in out or "Commands:" in out


def test_shell_completion_script_and_choices(capsys, monkeypatch):
    """The README's `_PERFKIT_COMPLETE=bash_source perfkit` works through perfkit's main."""
    monkeypatch.setenv("_PERFKIT_COMPLETE", "bash_source")
    code, out, _ = invoke(capsys)
    assert code == 0 and "complete -o nosort -F _perfkit_completion perfkit" in out
    monkeypatch.setenv("_PERFKIT_COMPLETE", "bash_complete")
    monkeypatch.setenv("COMP_WORDS", "perfkit report -f ")
    monkeypatch.setenv("COMP_CWORD", "3")
    code, out, _ = invoke(capsys)
    assert out.split() == [f"plain,{name}" for name in FORMATS]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["bogus"], "No such command 'bogus'"),
        (["run"], "no script given"),
        (["run", "missing.py"], "missing.py: no such file"),
        (["reference", "--preset", "huge"], "'huge' is not one of"),
        (["reference", "--inject", "nonsense"], "unknown anti-pattern 'nonsense'"),
        (["reference", "--inject", "data-starved"], "does not apply to the iris preset"),
        (["reference", "--window", "1,2"], "expected WAIT,WARMUP,ACTIVE"),
        (["reference", "--steps", "0"], "--steps"),
    ],
)
def test_bad_arguments_give_one_line_and_exit_2(capsys, args, message):
    code, _, err = invoke(capsys, *args)
    assert code == 2
    assert message in err
    assert len(err.strip().splitlines()) == 1
    assert "Traceback" not in err


@pytest.mark.skipif(__import__("torch").cuda.is_available(), reason="checks the CPU-only refusal")
def test_gpu_only_injection_is_refused_on_cpu(capsys):
    code, _, err = invoke(capsys, "reference", "--preset", "cnn", "--inject", "pageable-copy")
    assert code == 2 and "needs a CUDA device" in err


def test_reference_list(capsys):
    code, out, _ = invoke(capsys, "reference", "--list")
    assert code == 0 and "PK101  host-sync" in out and "PK301  data-starved" in out


def test_run_finds_steps_in_a_plain_script(tmp_path):
    result = perfkit("run", "-o", tmp_path / "run", SCRIPTS / "plain_train.py", 2)
    assert result.returncode == 0, result.stderr
    assert "trained 2 epochs" in result.stdout  # the script's own argv reached it
    assert "USDT:" not in result.stderr and "STAGE:" not in result.stderr
    run = read_run(tmp_path / "run")
    assert run.complete and run.capture["step_source"] == "optimizer"
    assert len(run.steps) == 2 * 16  # n optimizer steps are n steps: the first ends at the first
    assert all(s["batches"] == 1 and s["data_wait_ms"] > 0 for s in run.steps)
    sync_sites = {
        run.sites[site["site"]]["code"]
        for step in run.steps[1:]  # the first step ends at the first optimizer step, before it
        for site in step["events"]["syncs"]["sites"]
    }
    assert sync_sites == {"last = loss.item()  # the per-step sync"}
    assert run.traces and (tmp_path / "run" / run.traces[0]).stat().st_size > 0
    assert run.env["argv"][1:] == ["2"]


def test_run_without_optimizer_uses_backward(tmp_path):
    result = perfkit("run", "--window", "off", "-o", tmp_path / "run", SCRIPTS / "manual_sgd.py")
    assert result.returncode == 0, result.stderr
    run = read_run(tmp_path / "run")
    assert run.capture["step_source"] == "backward" and len(run.steps) == 40  # one per backward()


def test_run_inference_uses_batches(tmp_path):
    result = perfkit("run", "--window", "off", "-o", tmp_path / "run", SCRIPTS / "inference.py")
    assert result.returncode == 0, result.stderr
    run = read_run(tmp_path / "run")
    assert run.capture["step_source"] == "batch" and len(run.steps) == 16  # one per batch


@pytest.mark.parametrize("code", [0, 3])
def test_script_exit_code_passes_through(tmp_path, code):
    result = perfkit("run", "--window", "off", "-o", tmp_path / "run", SCRIPTS / "exits.py", code)
    assert result.returncode == code
    assert read_run(tmp_path / "run").complete


def test_script_exception_prints_its_traceback_and_saves_the_run(tmp_path):
    result = perfkit(
        "run", "--window", "off", "-o", tmp_path / "run", SCRIPTS / "exits.py", "raise"
    )
    assert result.returncode == 1
    assert "ValueError: the script's own error" in result.stderr
    assert 'exits.py", line 12' in result.stderr
    assert "runpy" not in result.stderr and "perfkit/commands" not in result.stderr
    run = read_run(tmp_path / "run")
    assert run.complete and run.env["error"] == "ValueError: the script's own error"


def test_existing_run_is_not_overwritten(tmp_path):
    out = tmp_path / "run"
    for _ in range(2):
        assert perfkit("run", "--window", "off", "-o", out, SCRIPTS / "exits.py", 0).returncode == 0
    assert (tmp_path / "run" / "run.json").exists() and (tmp_path / "run-2" / "run.json").exists()


def test_sigkill_leaves_a_readable_partial_run(tmp_path):
    out = tmp_path / "run"
    proc = start_forever(out, "off", stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while steps_written(out / "run.json") < 20 and time.monotonic() < deadline:
            time.sleep(0.2)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    run = read_run(out)
    assert run.complete is False and len(run.steps) >= 20


@pytest.mark.parametrize(
    "moment",
    ["during start-up", "right after the first write", "in the profiler window", "mid-training"],
)
def test_sigkill_at_any_moment_never_leaves_a_corrupt_run(tmp_path, moment):
    """Killed before the session starts: no run file. Killed later: a run that loads."""
    out = tmp_path / "run"
    proc = start_forever(out, "2,1,3", stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wanted = {
        "during start-up": None,
        "right after the first write": 0,
        "in the profiler window": 3,
        "mid-training": 30,
    }[moment]
    try:
        if wanted is None:
            time.sleep(0.5)
        else:
            deadline = time.monotonic() + 60
            while steps_written(out / "run.json") < wanted and time.monotonic() < deadline:
                time.sleep(0.02)
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    if wanted is not None or (out / "run.json").exists():
        run = read_run(out)
        assert run.complete is False and len(run.steps) >= (wanted or 0)
    # A kill in the middle of a write may leave a hidden temp file; run.json is always whole.


AS_MAIN = """
import os, pickle, sys, torch
class Config:
    pass
print("argv", sys.argv, "file", __file__, "name", __name__, "pickled", bool(pickle.dumps(Config())))
model = torch.nn.Linear(2, 1)
opt = torch.optim.SGD(model.parameters(), 0.1)
for _ in range(3):
    model(torch.randn(2, 2)).sum().backward()
    opt.step()
    opt.zero_grad()
pid = os.fork()
if pid:
    os.waitpid(pid, 0)
"""


def test_run_executes_the_script_as_python_would(tmp_path):
    """argv[0] as typed, __file__ absolute, a picklable __main__; a forked child that runs
    to the end says nothing of the run (its parent does)."""
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "s.py").write_text(AS_MAIN)
    result = perfkit("run", "--window", "off", "-o", "r", "sub/s.py", "x", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    expected = f"argv ['sub/s.py', 'x'] file {tmp_path / 'sub' / 's.py'} name __main__ pickled True"
    assert result.stdout.strip() == expected
    assert result.stderr.count("perfkit report r") == 1


def test_a_bug_in_perfkit_exits_3_in_two_lines_not_1(capsys, monkeypatch):
    """1 means a finding at --fail-on; a crash must not look like one to CI."""
    import perfkit.analysis.rankfiles as rankfiles

    def broken(*args, **kwargs):
        raise ZeroDivisionError("boom")

    monkeypatch.setattr(rankfiles, "analyze", broken)
    code, _, err = invoke(
        capsys, "report", str(SCRIPTS.parent.parent / "reports" / "runs" / "before")
    )
    assert code == 3 and "Traceback" not in err
    assert err.splitlines()[0] == "perfkit: internal error: ZeroDivisionError: boom"
