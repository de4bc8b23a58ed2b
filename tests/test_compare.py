"""`perfkit compare` as a CI gate (issue 15): the format from -o, the regression gate and its
noise interval, warnings when the setups differ, rows that add up, numbers for people, and
`perfkit.compare`. Runs are built with known per-step times, so nothing here depends on
timing."""

from __future__ import annotations

import dataclasses
import json
import re
import statistics
from pathlib import Path

import pytest

import perfkit
from perfkit.analysis.compare import Comparison, phases
from perfkit.analysis.noise import step_change
from perfkit.evidence import Evidence
from perfkit.report.compare import number, percent
from perfkit.runfile import write_json_atomic
from perfkit.runmodel import Config, Env, LoaderConfig, OptimizerConfig, Step, to_json
from tests.builders import CPU, run_of
from tests.test_cli import invoke

STEADY = [10.0 + 0.1 * (i % 5) for i in range(30)]  # 10.0 to 10.4 ms
NOISY = [8.0, 12.0] * 15  # the median step moves by a third with the steps drawn


def _run(steps_ms: list[float], waits_ms: list[float] | None = None, **fields):
    """A run whose timed steps last ``steps_ms`` (the first, untimed step lasts 100 ms)."""
    waits = waits_ms or [0.0] * len(steps_ms)
    steps = [
        Step(wall_ms=100.0),
        *(Step(wall_ms=s, data_wait_ms=w) for s, w in zip(steps_ms, waits, strict=True)),
    ]
    run = run_of(steps=len(steps), **fields)
    return dataclasses.replace(
        run, steps=tuple(dataclasses.replace(s, i=i) for i, s in enumerate(steps))
    )


def _save(run, path: Path) -> str:
    path.mkdir(parents=True)
    write_json_atomic(path / "run.json", to_json(run))
    return str(path)


def _trace(path: Path, steps_ms: list[float]) -> str:
    events, ts = [], 0.0
    for i, ms in enumerate(steps_ms):
        events.append(
            {"ph": "X", "cat": "cpu_op", "name": f"ProfilerStep#{i}", "ts": ts, "dur": ms * 1e3}
        )
        ts += ms * 1e3 + 10
    path.write_text(json.dumps({"traceEvents": events}))
    return str(path)


def _env(argv: tuple[str, ...]) -> Env:
    return Env(device=CPU, cpu_count=8, cpu_available=8, argv=argv)


@pytest.fixture
def steady(tmp_path):
    return _save(_run(STEADY), tmp_path / "steady")


# -- the regression gate ------------------------------------------------------------------


def test_a_real_slowdown_fails_the_gate_and_says_it_is_beyond_noise(capsys, tmp_path, steady):
    slower = _save(_run([s * 1.2 for s in STEADY]), tmp_path / "slower")
    code, out, err = invoke(capsys, "compare", steady, slower, "--fail-on-regression", "5")
    assert code == 1
    assert re.search(r"median step \+20\.0% \(95% CI \+\d+\.\d% to \+\d+\.\d%\), beyond noise", out)
    assert "perfkit: regression: median step +20.0%" in err and "more than 5%" in err
    # within the threshold, the same slowdown passes
    code, _, _ = invoke(capsys, "compare", steady, slower, "--fail-on-regression", "25")
    assert code == 0


def test_a_slowdown_within_noise_passes_the_gate(capsys, tmp_path):
    base = _save(_run(NOISY), tmp_path / "base")
    new = _save(_run([s + 0.2 for s in NOISY]), tmp_path / "new")
    code, out, err = invoke(capsys, "compare", base, new, "--fail-on-regression", "1")
    assert code == 0 and "regression" not in err
    assert re.search(r"median step \+2\.0% \(95% CI -\d+\.\d% to \+\d+\.\d%\), within noise", out)


def test_a_speedup_never_fails_the_gate(capsys, tmp_path, steady):
    faster = _save(_run([s / 2 for s in STEADY]), tmp_path / "faster")
    code, out, _ = invoke(capsys, "compare", steady, faster, "--fail-on-regression", "0")
    assert code == 0 and "speedup 2.00x (the new run is faster)" in out


def test_one_step_has_no_interval_and_the_change_alone_decides(capsys, tmp_path):
    base = _trace(tmp_path / "base.pt.trace.json", [10.0])
    new = _trace(tmp_path / "new.pt.trace.json", [13.0])
    code, out, _ = invoke(capsys, "compare", base, new, "--fail-on-regression", "10")
    assert code == 1
    assert (
        "median step +30.0% (95% CI not computed: the base and the new inputs have one step)" in out
    )
    code, _, _ = invoke(capsys, "compare", base, new, "--fail-on-regression", "40")
    assert code == 0


def test_bad_input_exits_2_even_with_the_gate(capsys, tmp_path, steady):
    code, out, err = invoke(
        capsys, "compare", steady, str(tmp_path / "nope"), "--fail-on-regression", "5"
    )
    assert code == 2 and out == "" and "no such file or directory" in err
    code, _, err = invoke(capsys, "compare", steady, steady, "--fail-on-regression", "-1")
    assert code == 2


def test_the_interval_is_the_same_every_time():
    once, again = step_change(NOISY, NOISY[::-1]), step_change(NOISY, NOISY[::-1])
    assert once == again and once is not None and once.interval is not None
    assert once.interval[0] < 0 < once.interval[1] and once.beyond_noise is False


# -- formats --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "first"),
    [("c.md", "# perfkit compare"), ("c.txt", "perfkit compare"), ("c.html", "<!doctype html>")],
)
def test_the_format_follows_the_extension(capsys, tmp_path, steady, name, first):
    out = tmp_path / name
    code, _, _ = invoke(capsys, "compare", steady, steady, "-o", str(out))
    text = out.read_text()
    assert code == 0 and text.splitlines()[0].startswith(first)
    assert "perfkit compare" in text.splitlines()[0]
    assert ("<table>" in text) == name.endswith(".html")
    assert ("| median step |" in text) == name.endswith(".md")


def test_json_by_extension_and_format_over_extension(capsys, tmp_path, steady):
    out = tmp_path / "c.json"
    assert invoke(capsys, "compare", steady, steady, "-o", str(out))[0] == 0
    data = json.loads(out.read_text())
    assert data["schema"] == "perfkit.compare/2" and data["step"]["noise"] == "within noise"
    assert set(data["phases"]["step_ms"]) == {"base", "new", "delta", "change_pct"}
    assert invoke(capsys, "compare", steady, steady, "-o", str(out), "-f", "markdown")[0] == 0
    assert out.read_text().startswith("# perfkit compare")


def test_the_html_page_is_self_contained(capsys, tmp_path, steady):
    out = tmp_path / "c.html"
    invoke(capsys, "compare", steady, steady, "-o", str(out))
    page = out.read_text()
    assert "http://" not in page and "https://" not in page and "<script" not in page
    assert "speedup 1.00x" in page and "within noise" in page and "<b>Fixed:</b> none" in page


# -- warnings -------------------------------------------------------------------------------


def test_no_warning_when_the_setups_are_the_same(capsys, steady):
    code, out, err = invoke(capsys, "compare", steady, steady)
    assert code == 0 and "warning:" not in out.lower() and "warning:" not in err


def test_a_warning_names_what_differs(capsys, tmp_path):
    loader = LoaderConfig(dataset="Images", num_workers=0, batch_size=64)
    sgd = OptimizerConfig(type="torch.optim.sgd.SGD")
    reference = ("/venv/bin/perfkit", "reference", "--preset", "cnn")
    base = _run(
        STEADY, env=_env(reference), config=Config(optimizers=(sgd,), dataloaders=(loader,))
    )
    new = _run(
        STEADY,
        env=_env(("/src/perfkit/__main__.py", "reference")),  # the default preset: iris
        config=Config(
            optimizers=(OptimizerConfig(type="torch.optim.adamw.AdamW"),),
            dataloaders=(dataclasses.replace(loader, batch_size=128, num_workers=4),),
        ),
    )
    other_script = _run(STEADY, env=_env(("train.py",)), config=base.config)
    a, b, c = (_save(r, tmp_path / n) for r, n in ((base, "a"), (new, "b"), (other_script, "c")))
    code, out, err = invoke(capsys, "compare", a, b)
    differences = [
        "preset: cnn -> iris",
        "DataLoader batch_size: 64 -> 128",
        "DataLoader num_workers: 0 -> 4",
        "optimizers: SGD -> AdamW",
    ]
    assert code == 0 and all(d in out and d in err for d in differences), (out, err)
    assert "script:" not in out  # `perfkit reference` and `python -m perfkit reference`
    _, out, err = invoke(capsys, "compare", a, c)
    assert "script: perfkit reference -> train.py" in out and "perfkit: warning:" in err


def test_traces_warn_on_device_and_world_size(tmp_path):
    paths = []
    for name, device, world in (("a", "NVIDIA A100", None), ("b", "NVIDIA H100", 8)):
        path = Path(_trace(tmp_path / f"{name}.pt.trace.json", [10.0, 11.0]))
        data = json.loads(path.read_text())
        data["deviceProperties"] = [{"name": device}]
        if world:
            data["distributedInfo"] = {"rank": 0, "world_size": world}
        path.write_text(json.dumps(data))
        paths.append(path)
    assert perfkit.compare(*paths).differences == (
        "device: NVIDIA A100 -> NVIDIA H100",
        "world size: 1 -> 8",
    )
    assert perfkit.compare(paths[0], paths[0]).differences == ()


# -- rows add up, numbers for people ------------------------------------------------------


def test_data_wait_and_the_rest_add_up_to_the_median_step():
    # Step time and data wait move apart: the median wait (5) plus the median rest (10)
    # would be 15, not the median step (12).
    steps = [10.0, 12.0, 20.0, 11.0, 30.0]
    waits = [0.0, 2.0, 10.0, 5.0, 20.0]
    ev = Evidence(run=_run(steps, waits))
    got = phases(ev)
    assert got["step_ms"] == statistics.median(steps) == 12.0
    assert got["data_wait_ms"] + got["compute_ms"] == pytest.approx(got["step_ms"])
    assert statistics.median(waits) + statistics.median(
        [s - w for s, w in zip(steps, waits, strict=True)]
    ) != pytest.approx(got["step_ms"])
    even = phases(Evidence(run=_run(steps[:4], waits[:4])))  # 10, 11, 12, 20: middle 11 and 12
    assert even["step_ms"] == 11.5 and even["data_wait_ms"] == 3.5 and even["compute_ms"] == 8.0


@pytest.mark.parametrize(
    ("x", "unit", "signed", "shown"),
    [
        (148.40699999999998, "ms", False, "148.4 ms"),
        (46.4349, "ms", False, "46.43 ms"),
        (0.5556, "ms", True, "+0.556 ms"),
        (-34.2, "ms", True, "-34.20 ms"),
        (0.0, "ms", True, "0"),
        (0.0, "ms", False, "0 ms"),
        (476467200.0, "count", False, "476,467,200"),
        (1.5, "count", False, "1.5"),
        (428527616, "bytes", False, "408.7 MiB"),
        (-8.72e7, "bytes", True, "-83.2 MiB"),
        (450560, "bytes", True, "+440.0 KiB"),
        (512, "bytes", False, "512 B"),
        (3 * 2**30, "bytes", False, "3.0 GiB"),
        (None, "ms", False, "-"),
    ],
)
def test_numbers_are_rounded_for_people(x, unit, signed, shown):
    assert number(x, unit, signed) == shown


def test_percentages_are_signed():
    assert (percent(-0.737), percent(0.0), percent(0.1234), percent(None)) == (
        "-73.7%",
        "0%",
        "+12.3%",
        "-",
    )


def test_no_long_floats_or_exponents_in_any_format(capsys, tmp_path, steady):
    odd = _save(_run([s * 1.0137 + 1e-9 for s in STEADY], [0.1234567] * 30), tmp_path / "odd")
    for fmt in ("terminal", "markdown", "html", "json"):
        _, out, _ = invoke(capsys, "compare", steady, odd, "-f", fmt)
        decimals = 5 if fmt == "json" else 4  # JSON: speedup to 4 decimals, ms to 3
        assert not re.search(rf"\d\.\d{{{decimals},}}|\de[+-]\d", out), (fmt, out)


# -- the public API ------------------------------------------------------------------------


def test_perfkit_compare_returns_a_frozen_comparison(tmp_path, steady):
    slower = _save(_run([s * 1.2 for s in STEADY]), tmp_path / "slower")
    c = perfkit.compare(steady, Path(slower))
    assert isinstance(c, Comparison) and list(c.pairs) == [""] and c.differences == ()
    step = c.headline.step
    assert step is not None and step.change == pytest.approx(0.2) and step.beyond_noise
    assert step.interval is not None and 0 < step.interval[0] <= 0.2 <= step.interval[1]
    assert c.regressed(5) and not c.regressed(25)
    assert c.headline.speedup == pytest.approx(1 / 1.2)
    with pytest.raises(dataclasses.FrozenInstanceError):
        c.base = "x"  # type: ignore[misc]
    assert "compare" in perfkit.__all__


@pytest.mark.parametrize("fmt", ["terminal", "markdown", "json", "html"])
def test_compare_says_first_that_an_input_was_stopped(capsys, tmp_path, fmt):
    """As every report does: a run stopped by SIGTERM is named before any figure."""
    stopped = _run(STEADY)
    stopped = dataclasses.replace(
        stopped, complete=False, env=dataclasses.replace(stopped.env, interrupted="SIGTERM")
    )
    base, new = _save(_run(STEADY), tmp_path / "a"), _save(stopped, tmp_path / "b")
    code, out, _ = invoke(capsys, "compare", base, new, "-f", fmt)
    assert code == 0
    said = "new: the process was stopped by SIGTERM after 31 steps"
    if fmt == "json":
        assert json.loads(out)["notices"][0].startswith(said)
    else:
        assert said in out and out.index(said) < out.index("speedup")
    assert "base: the process" not in out


# -- the rules compared ---------------------------------------------------------------------

RUNS = Path(__file__).resolve().parent.parent / "reports" / "runs"  # real CNN captures


def _fixed(capsys, *args) -> list[str]:
    code, out, err = invoke(
        capsys, "compare", str(RUNS / "before"), str(RUNS / "after"), "-f", "json", *args
    )
    assert code == 0, err
    return json.loads(out)["fixed"]


def test_compare_takes_the_projects_rules_and_thresholds(capsys, tmp_path, monkeypatch):
    """The findings compared are those `perfkit report` shows in the same project."""
    everything = _fixed(capsys)
    assert {"PK101 host-sync", "PK301 data-starved"} <= set(everything)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "pyproject.toml").write_text('[tool.perfkit]\nignore = ["PK101"]\n')
    assert _fixed(capsys) == [f for f in everything if not f.startswith("PK101")]
    # The command line's --ignore replaces the project's, as for `perfkit report`.
    assert _fixed(capsys, "--ignore", "PK202") == [f for f in everything if "PK202" not in f]
    assert _fixed(capsys, "--select", "PK3") == ["PK301 data-starved"]
    (tmp_path / "pyproject.toml").write_text(
        "[tool.perfkit.thresholds.data-starved]\nmin-wait-ms = 50\n"  # the base waits 33 ms
    )
    assert "PK301 data-starved" not in _fixed(capsys)


def test_compare_refuses_an_unknown_rule_in_one_line(capsys):
    code, out, err = invoke(
        capsys, "compare", str(RUNS / "before"), str(RUNS / "after"), "--ignore", "PK999"
    )
    assert code == 2 and out == "" and err.count("\n") == 1 and "PK999" in err


def test_the_api_compares_the_rules_it_is_given():
    both = perfkit.compare(RUNS / "before", RUNS / "after", select=["PK301"])
    assert both.headline.fixed == ("PK301 data-starved",)
    tuned = {"data-starved": {"min-wait-ms": 50}}
    assert (
        "PK301 data-starved"
        not in perfkit.compare(RUNS / "before", RUNS / "after", thresholds=tuned).headline.fixed
    )
