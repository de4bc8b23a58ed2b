"""[tool.perfkit] in pyproject.toml (issue 15), and report --open."""

from __future__ import annotations

import json
import webbrowser
from pathlib import Path

import pytest

from perfkit.config import Config, load_config
from perfkit.errors import InputError
from tests.conftest import REPO, perfkit_cli
from tests.test_cli import invoke

BEFORE = REPO / "reports" / "runs" / "before"


def _project(tmp_path, table: str):
    (tmp_path / "pyproject.toml").write_text(f'[project]\nname = "x"\n\n[tool.perfkit]\n{table}')
    (tmp_path / "src").mkdir()
    return tmp_path


def test_the_nearest_pyproject_with_the_table_is_read(tmp_path):
    _project(tmp_path, 'select = ["PK1"]\nfail-on = "warning"\noutput = "runs"\n')
    inner = tmp_path / "src" / "pkg"
    inner.mkdir()
    (inner / "pyproject.toml").write_text('[project]\nname = "inner"\n')  # no table: skipped
    config = load_config(inner)
    assert config == Config(("PK1",), (), "warning", "runs", str(tmp_path / "pyproject.toml"))
    assert load_config(tmp_path.parent) == Config()  # none above: the defaults


@pytest.mark.parametrize(
    ("table", "problem"),
    [
        ('select = "PK1"\n', "select should be a list"),
        ('fail-on = "fatal"\n', "fail-on should be one of info, warning, error"),
        ("selct = []\n", "selct is not a setting"),
        ("output = 3\n", "output should be a folder name"),
        ("select = [\n", "cannot read it"),
        ('ignore = ["host-synk"]\n', "ignore has an unknown rule 'host-synk'"),
    ],
)
def test_a_bad_table_names_the_file_and_the_key(tmp_path, capsys, monkeypatch, table, problem):
    monkeypatch.chdir(_project(tmp_path, table))
    with pytest.raises(InputError, match=problem):
        load_config()
    code, _, err = invoke(capsys, "report", str(BEFORE))
    assert code == 2 and str(tmp_path / "pyproject.toml") in err and problem in err
    assert len(err.strip().splitlines()) == 1


def test_report_takes_its_defaults_from_the_project_and_the_command_line_wins(
    tmp_path, capsys, monkeypatch
):
    monkeypatch.chdir(_project(tmp_path, 'select = ["PK1"]\nfail-on = "warning"\n'))
    code, out, _ = invoke(capsys, "report", str(BEFORE), "-f", "json")
    codes = {f["code"] for f in json.loads(out)["findings"]}
    assert code == 1 and codes == {"PK101"}  # PK101 is a warning: fail-on from the table
    code, out, _ = invoke(capsys, "report", str(BEFORE), "-f", "json", "--select", "PK3")
    assert code == 1 and {f["code"] for f in json.loads(out)["findings"]} == {"PK301"}


def test_default_run_folders_go_where_the_project_says(tmp_path):
    _project(tmp_path, 'output = "runs"\n')
    (tmp_path / "train.py").write_text(
        "import torch\nm = torch.nn.Linear(2, 1)\nopt = torch.optim.SGD(m.parameters(), 0.1)\n"
        "for _ in range(3):\n    m(torch.randn(2, 2)).sum().backward(); opt.step()\n"
    )
    out = perfkit_cli("run", "--window", "off", "train.py", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert [p.name.split("-")[0] for p in (tmp_path / "runs").iterdir()] == ["train"]
    assert not (tmp_path / "perfkit-runs").exists()


def test_open_shows_the_html_report_in_the_browser(capsys, monkeypatch):
    opened = []
    monkeypatch.setattr(webbrowser, "open", opened.append)
    code, _, _ = invoke(capsys, "report", str(BEFORE), "--open")
    assert code == 0 and len(opened) == 1 and opened[0].startswith("file:///")
    page = opened[0].removeprefix("file://")
    assert Path(page).read_text(encoding="utf-8").startswith("<!doctype html>")
    code, _, err = invoke(capsys, "report", str(BEFORE), "--open", "-f", "json")
    assert code == 2 and "--open shows the HTML report" in err and len(opened) == 1


def test_the_python_api_refuses_a_rule_that_does_not_exist():
    import perfkit

    with pytest.raises(ValueError, match="unknown rule 'PK999'"):
        perfkit.analyze(BEFORE, select=["PK999"])
    with pytest.raises(ValueError, match="did you mean 'host-sync'"):
        perfkit.compare(BEFORE, BEFORE, ignore=["host-synk"])
