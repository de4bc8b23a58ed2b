"""Where files go (issue 13, class 5): the run lands where the user asked even if the
script changes directory, run directories are claimed atomically, a job id cannot move
the run out of perfkit-runs/, a run file cannot make the report read outside its folder,
and ``report -o`` never overwrites an input or a file that is not a report."""

from __future__ import annotations

import errno
import json
import multiprocessing
import os
import shutil
from pathlib import Path

import pytest

from perfkit.analysis.inputs import load_inputs
from perfkit.atomicfile import write_atomic
from perfkit.capture.rundir import DEFAULT_ROOT, claim_run_dir, default_run_dir
from perfkit.report import FORMATS
from tests.conftest import TRACES, capture, perfkit_cli, read_run

CHDIR_SCRIPT = """
import os, torch
os.makedirs("elsewhere", exist_ok=True)
os.chdir("elsewhere")  # as Hydra apps do
model = torch.nn.Linear(4, 1)
opt = torch.optim.SGD(model.parameters(), 0.1)
for _ in range(12):
    loss = model(torch.randn(8, 4)).pow(2).mean()
    opt.zero_grad()
    loss.backward()
    opt.step()
"""
TRACE = TRACES / "hta-a100-alexnet-pageable-htod-syncs.pt.trace.json.gz"


@pytest.fixture
def chdir_script(tmp_path: Path) -> Path:
    script = tmp_path / "train.py"
    script.write_text(CHDIR_SCRIPT)
    return script


def test_script_that_changes_directory_still_writes_where_asked(chdir_script, tmp_path):
    out = perfkit_cli("run", "--window", "off", "-o", "myrun", chdir_script, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert len(read_run(tmp_path / "myrun").steps) == 12
    assert not list((tmp_path / "elsewhere").rglob("run*.json"))
    # The summary speaks of the folder as the user named it, from where they stand.
    assert "perfkit report myrun" in out.stderr


def test_run_into_the_current_directory_twice(chdir_script, tmp_path):
    here = tmp_path / "exp"
    here.mkdir()
    for _ in range(2):
        out = perfkit_cli("run", "--window", "off", "-o", ".", chdir_script, cwd=here)
        assert out.returncode == 0, out.stderr
    assert len(read_run(here).steps) == 12
    assert len(read_run(tmp_path / "exp-2").steps) == 12
    assert "already holds a run; writing to" in out.stderr


def test_claims_never_share_a_directory(tmp_path):
    base = tmp_path / "run"
    first = claim_run_dir(base, force=False, file_name="run.json")
    second = claim_run_dir(base, force=False, file_name="run.json")
    assert (first, second) == (base, tmp_path / "run-2")
    assert claim_run_dir(base, force=True, file_name="run.json") == base
    # Ranks claim their own files: rank 1 of a job goes beside rank 0.
    assert claim_run_dir(base, force=False, file_name="run.rank1.json") == base


def _claim(base: str) -> str:
    return str(claim_run_dir(Path(base), force=False, file_name="run.json"))


def test_processes_started_together_claim_different_directories(tmp_path):
    with multiprocessing.get_context("spawn").Pool(6) as pool:
        claimed = pool.map(_claim, [str(tmp_path / "run")] * 12)
    assert len(set(claimed)) == 12


def test_a_job_id_cannot_move_the_run_out_of_perfkit_runs(monkeypatch):
    for job in ("../../x", "/etc/cron.d", "..", "a/../../b"):
        monkeypatch.setenv("TORCHELASTIC_RUN_ID", job)
        chosen = default_run_dir("train.py")
        assert chosen.parent == Path(DEFAULT_ROOT), job
        assert ".." not in chosen.parts and "/" not in chosen.name


def _run_listing(tmp_path: Path, listed: str) -> Path:
    run_dir = tmp_path / "run"
    capture(run_dir, lambda: None, steps=3)
    data = json.loads((run_dir / "run.json").read_text())
    data["traces"] = [listed]
    (run_dir / "run.json").write_text(json.dumps(data))
    return run_dir


def test_run_file_traces_are_read_inside_the_run_directory_only(tmp_path):
    shutil.copy(TRACE, tmp_path / "outside.pt.trace.json.gz")
    for listed in ("../outside.pt.trace.json.gz", str(tmp_path / "outside.pt.trace.json.gz")):
        (unit,) = load_inputs(_run_listing(tmp_path, listed))
        assert unit.trace is None, listed
    # A link in traces/ that leads out of the run is not followed either.
    (tmp_path / "run" / "traces").mkdir(exist_ok=True)
    (tmp_path / "run" / "traces" / "x.pt.trace.json.gz").symlink_to(
        tmp_path / "outside.pt.trace.json.gz"
    )
    (unit,) = load_inputs(_run_listing(tmp_path, "traces/x.pt.trace.json.gz"))
    assert unit.trace is None
    shutil.copy(TRACE, tmp_path / "run" / "inside.pt.trace.json.gz")
    (unit,) = load_inputs(_run_listing(tmp_path, "inside.pt.trace.json.gz"))
    assert unit.trace is not None


def test_unlisted_traces_are_found_beside_the_run_file_or_in_traces(tmp_path):
    """A run killed before it listed its trace: the trace is looked for where perfkit
    writes it (beside the run file, issue 15, named after the process) and where it wrote
    it before (traces/)."""
    run_dir = _run_listing(tmp_path, "gone.pt.trace.json.gz")
    env = read_run(run_dir).env
    mine = f"{env['host']}_{env['pid']}.1.pt.trace.json.gz"
    shutil.copy(TRACE, run_dir / "other_1.1.pt.trace.json.gz")  # another process's (rank's)
    (unit,) = load_inputs(run_dir)
    assert unit.trace is None
    shutil.copy(TRACE, run_dir / mine)
    (unit,) = load_inputs(run_dir)
    assert unit.trace is not None and unit.trace.path == str(run_dir / mine)
    (run_dir / mine).unlink()
    (run_dir / "traces").mkdir()
    shutil.copy(TRACE, run_dir / "traces" / "x.pt.trace.json.gz")
    (unit,) = load_inputs(run_dir)
    assert unit.trace is not None
    # A link beside the run file that leads out of it is not followed.
    (run_dir / "traces" / "x.pt.trace.json.gz").unlink()
    shutil.copy(TRACE, tmp_path / "outside.pt.trace.json.gz")
    (run_dir / mine).symlink_to(tmp_path / "outside.pt.trace.json.gz")
    (unit,) = load_inputs(run_dir)
    assert unit.trace is None


def test_one_bad_trace_does_not_fail_the_folder(tmp_path):
    shutil.copy(TRACE, tmp_path / "good.pt.trace.json.gz")
    (tmp_path / "bad.pt.trace.json").write_text('{"traceEvents":[{"name":"x"')
    out = perfkit_cli("report", tmp_path, "-f", "json")
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    assert report["summary"]["sources"] == [str(tmp_path / "good.pt.trace.json.gz")]
    (notice,) = report["summary"]["notices"]
    assert "bad.pt.trace.json: not valid JSON" in notice
    (tmp_path / "good.pt.trace.json.gz").unlink()
    out = perfkit_cli("report", tmp_path)
    assert out.returncode == 2 and "bad.pt.trace.json: not valid JSON" in out.stderr


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("report-o") / "run"
    capture(out, lambda: None, steps=3)
    return out


def test_report_never_overwrites_its_input(run_dir):
    before = (run_dir / "run.json").read_bytes()
    for args in (
        (run_dir, "-o", run_dir / "run.json"),
        (run_dir / "run.json", "-o", run_dir / "run.json", "--force"),
    ):
        out = perfkit_cli("report", *args)
        assert out.returncode == 2 and "is an input" in out.stderr, out.stderr
    out = perfkit_cli("compare", run_dir, TRACE, "-o", TRACE, "--force")
    assert out.returncode == 2 and "is an input" in out.stderr
    assert (run_dir / "run.json").read_bytes() == before


@pytest.mark.parametrize("fmt", FORMATS)
def test_report_replaces_reports_only(run_dir, tmp_path, fmt):
    notes = tmp_path / "deep" / "er" / "notes.txt"
    out = perfkit_cli("report", run_dir, "-f", fmt, "-o", notes)
    assert out.returncode == 0, out.stderr  # missing folders are created
    again = perfkit_cli("report", run_dir, "-f", fmt, "-o", notes)
    assert again.returncode == 0, again.stderr  # its own report is replaced
    notes.write_text("my notes\n")
    refused = perfkit_cli("report", run_dir, "-f", fmt, "-o", notes)
    assert refused.returncode == 2 and "not a perfkit report" in refused.stderr
    assert notes.read_text() == "my notes\n"
    forced = perfkit_cli("report", run_dir, "-f", fmt, "-o", notes, "--force")
    assert forced.returncode == 0 and notes.read_text() != "my notes\n"


def test_a_write_that_fails_halfway_leaves_the_old_file(tmp_path):
    target = tmp_path / "report.md"
    target.write_text("the old report\n")

    def disk_full_halfway(f):
        f.write("the new rep")
        raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.raises(OSError):
        write_atomic(target, disk_full_halfway)
    assert target.read_text() == "the old report\n"
    assert [p.name for p in tmp_path.iterdir()] == ["report.md"]


def test_report_o_refuses_what_is_not_a_regular_file(run_dir, tmp_path):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    link = tmp_path / "link.md"
    link.symlink_to(tmp_path / "target.md")
    for target in (fifo, link, Path("/dev/null")):
        out = perfkit_cli("report", run_dir, "-o", target, "--force", timeout=60)
        assert out.returncode == 2 and "not a regular file" in out.stderr, target
    assert not (tmp_path / "target.md").exists()
    out = perfkit_cli("report", run_dir, "-o", "-", "-f", "json")
    assert out.returncode == 0 and json.loads(out.stdout)["schema"] == "perfkit.report/1"


def test_reading_a_fifo_is_refused_not_waited_on(tmp_path):
    fifo = tmp_path / "x.pt.trace.json"
    os.mkfifo(fifo)
    out = perfkit_cli("report", fifo, timeout=60)
    assert out.returncode == 2 and "not a regular file" in out.stderr
