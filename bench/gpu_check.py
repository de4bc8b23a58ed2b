"""One prepared run that proves perfkit's CUDA features on a real GPU (issue 11).

A GPU machine is lent for minutes, so everything is checked in one run of at most five:

  tests        the suite's CUDA tests (``pytest -m gpu``)
  injections   each GPU anti-pattern of the reference loop found, its clean twin quiet;
               host-sync with the sync wait measured from the trace
  iris         the seed article's claim: the Iris MLP on the GPU vs the CPU, and what
               perfkit reports about the GPU runs
  nvml_trace   NVML samples during a cnn run, the profiler window's kernels and copies as
               read from the trace, as reported, and as TensorBoard's profiler plugin lists
  overhead     capture overhead on the device (bench/overhead.py, fewer pairs), next to
               torch.profiler

Each step runs in its own subprocess under a time cap (a hang or a crash costs one step,
not the run), within one overall budget, and records checks (true, false, or null with
why it was skipped) and figures. ``--dry-run`` runs every step on this machine's device
(the CPU when there is no GPU): what needs CUDA is recorded as "skipped: needs CUDA",
never faked. The results go to $OUT/gpu-results.json (else bench/gpu-results.json), with
the runs' files in gpu-runs.tar.gz beside it, so findings can be re-read without a GPU.

    python3 bench/gpu_check.py [--dry-run] [--only STEP,...] [--budget-s 270]
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import platform
import signal
import subprocess
import sys
import tarfile
import tempfile
import time
import traceback
import urllib.request
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable

REPO = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
NEEDS_CUDA = "skipped: needs CUDA"
# The GPU injections of the reference loop (perfkit/reference/injections.py, needs_gpu).
GPU_INJECTIONS = (
    "pageable-copy",
    "blocking-copy",
    "redundant-transfer",
    "no-amp",
    "cudnn-benchmark",
)
# Time caps per step, in seconds; the overall budget cuts the last ones shorter.
CAPS = {"tests": 70, "injections": 130, "iris": 45, "nvml_trace": 60, "overhead": 60}
ORDER = ("tests", "injections", "iris", "nvml_trace", "overhead")
# What comes back from the device is limited in size; traces beyond this stay behind.
TAR_LIMIT_BYTES = 14 * 2**20


# -- what every step shares -----------------------------------------------------------


def has_cuda() -> bool:
    import torch

    return torch.cuda.is_available()


class Recorder:
    """A step's checks and figures, rewritten to disk at each change: a step killed at its
    time cap still leaves what it had found."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.data: dict[str, Any] = {"checks": [], "figures": {}}
        self.save()

    def check(self, name: str, ok: bool | None, detail: Any = None, skipped: str = "") -> None:
        entry: dict[str, Any] = {"name": name, "ok": ok}
        if skipped:
            entry["skipped"] = skipped
        if detail is not None:
            entry["detail"] = detail
        self.data["checks"].append(entry)
        mark = {True: "ok  ", False: "FAIL", None: "skip"}[ok]
        print(f"  {mark} {name}" + (f"  ({skipped})" if skipped else ""), flush=True)
        self.save()

    def cuda_check(self, name: str, cuda: bool, ok: bool, detail: Any = None) -> None:
        """A check that only means something on a GPU: on the CPU it is recorded as skipped."""
        if cuda:
            self.check(name, ok, detail)
        else:
            self.check(name, None, detail, skipped=NEEDS_CUDA)

    def figure(self, key: str, value: Any) -> None:
        self.data["figures"][key] = value
        self.save()

    def save(self) -> None:
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.data, indent=1, default=str))
        tmp.replace(self.path)


def perfkit(
    *args: Any, timeout: float = 120, env: dict | None = None
) -> subprocess.CompletedProcess:
    """``python -m perfkit ...`` from the repository root (no console script needed)."""
    return subprocess.run(
        [PYTHON, "-m", "perfkit", *map(str, args)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
    )


def reference_run(out: Path, preset: str, slug: str | None, steps: int, *extra: str) -> dict:
    """One ``perfkit reference`` run; what it took and where it is."""
    t0 = time.perf_counter()
    args = ["reference", "--preset", preset, "--steps", steps, "-o", out, "--force", *extra]
    if slug:
        args += ["--inject", slug]
    done = perfkit(*args)
    info = {"dir": str(out), "wall_s": round(time.perf_counter() - t0, 2), "rc": done.returncode}
    if done.returncode:
        info["stderr"] = done.stderr[-1500:]
    return info


def report_json(run_dir: Path) -> dict:
    """``perfkit report --format json``, kept next to the run as report.json."""
    out = run_dir / "report.json"
    done = perfkit("report", run_dir, "--format", "json", "-o", out)
    if done.returncode:
        raise RuntimeError(f"perfkit report {run_dir} failed: {done.stderr[-800:]}")
    return json.loads(out.read_text())


def finding_codes(report: dict) -> list[str]:
    return sorted({f["code"] for f in report.get("findings", [])})


def finding(report: dict, code: str) -> dict | None:
    return next((f for f in report.get("findings", []) if f["code"] == code), None)


def brief(f: dict | None) -> dict | None:
    """A finding without its long fix text: what the results file needs to show."""
    if f is None:
        return None
    keep = ("code", "rule", "severity", "message", "evidence", "saving_ms", "saving_pct")
    return {k: f.get(k) for k in keep}


def run_file(run_dir: Path) -> dict:
    return json.loads((run_dir / "run.json").read_text())


# -- step 1: the suite's CUDA tests ------------------------------------------------------


def step_tests(rec: Recorder, work: Path, dry: bool) -> None:
    """``pytest -m gpu`` over the files that hold marked tests; each outcome from JUnit XML."""
    import xml.etree.ElementTree as ET

    files = sorted(
        str(p.relative_to(REPO))
        for p in (REPO / "tests").glob("test_*.py")
        if "pytest.mark.gpu" in p.read_text()
    )
    rec.figure("files", files)
    xml = work / "junit.xml"
    cmd = [PYTHON, "-m", "pytest", "-m", "gpu", "-q", "-p", "no:cacheprovider", f"--junitxml={xml}"]
    done = subprocess.run([*cmd, *files], cwd=REPO, capture_output=True, text=True, timeout=300)
    rec.figure("pytest_rc", done.returncode)
    rec.figure("pytest_tail", done.stdout[-1500:])
    outcomes: Counter = Counter()
    for case in ET.parse(xml).getroot().iter("testcase"):
        name = f"{case.get('classname')}::{case.get('name')}"
        failure = case.find("failure")
        if failure is None:
            failure = case.find("error")
        skip = case.find("skipped")
        if failure is not None:
            outcomes["failed"] += 1
            rec.check(name, False, (failure.get("message") or "")[:600])
        elif skip is not None:
            outcomes["skipped"] += 1
            reason = skip.get("message") or ""
            cuda = "CUDA" in reason or "GPU" in reason
            rec.check(name, None, reason, skipped=NEEDS_CUDA if cuda else reason)
        else:
            outcomes["passed"] += 1
            rec.check(name, True)
    rec.figure("outcomes", dict(outcomes))
    if not sum(outcomes.values()):
        rec.check("pytest collected the gpu tests", False, done.stdout[-800:] + done.stderr[-800:])


# -- step 2: every GPU injection found, its clean twin quiet ------------------------------


def step_injections(rec: Recorder, work: Path, dry: bool) -> None:
    """Each GPU injection on the cnn preset against one clean cnn run; host-sync too, with
    the CPU's wait for the device as measured from the profiler trace. Each injection is
    judged as soon as its report is in, so a step cut at its cap keeps what it judged."""
    from perfkit.reference.injections import INJECTIONS

    cuda = has_cuda()
    gpu_slugs = sorted(s for s, inj in INJECTIONS.items() if inj.needs_gpu)
    rec.figure("gpu_injections", gpu_slugs)
    if set(gpu_slugs) != set(GPU_INJECTIONS):
        rec.check("the GPU injections are the ones this check knows", False, gpu_slugs)
    for slug in gpu_slugs if not cuda else []:
        code = INJECTIONS[slug].code
        rec.check(f"{slug} ({code}) found, clean twin quiet", None, skipped=NEEDS_CUDA)
    slugs = ["host-sync", *(gpu_slugs if cuda else [])]
    runs: dict[str, dict] = {}
    pending: dict[str, Any] = {}  # name -> report future, until judged
    reports: dict[str, dict | None] = {}
    judged: set[str] = set()

    def collect(wait: bool) -> None:
        for name in list(pending):
            if wait or pending[name].done():
                try:
                    reports[name] = pending.pop(name).result()
                except Exception as e:
                    reports[name] = None
                    runs[name]["report_error"] = str(e)[-800:]
        if "clean" not in reports:
            return
        if "clean_codes" not in rec.data["figures"]:
            clean = reports["clean"]
            rec.check("the clean cnn run and its report", clean is not None, runs["clean"])
            rec.figure("clean_codes", finding_codes(clean) if clean else None)
            rec.figure("clean_findings", [brief(f) for f in clean["findings"]] if clean else None)
        for slug in [s for s in slugs if s in reports and s not in judged]:
            judge_injection(slug)

    def judge_injection(slug: str) -> None:
        judged.add(slug)
        code, bad, clean = INJECTIONS[slug].code, reports[slug], reports["clean"]
        name = f"{slug} ({code}) found, clean twin quiet"
        if bad is None or clean is None:
            rec.check(name, False, {"injected": runs.get(slug), "clean": runs["clean"]})
            return
        found, clean_codes = finding(bad, code), finding_codes(clean)
        trace = bad["summary"].get("trace") or {}
        detail = {
            "found": brief(found),
            "clean_has_it": code in clean_codes,
            "injected_codes": finding_codes(bad),
            "not_checked": [n for n in bad.get("not_checked", []) if n.get("code") == code],
            # What a miss is judged on (no-amp and cudnn-benchmark read kernel names).
            "trace_memcpy": trace.get("memcpy"),
            "trace_top_kernels": [k[0][:100] for k in (trace.get("top_kernels") or [])[:6]],
        }
        rec.check(name, found is not None and code not in clean_codes, detail)
        if slug == "host-sync":
            wait = (found or {}).get("evidence", {}).get("sync_wait_ms_per_step")
            rec.figure("host_sync_wait_ms_per_step", wait)
            rec.figure("host_sync_trace_syncs", (bad["summary"].get("trace") or {}).get("syncs"))
            rec.cuda_check(
                "host-sync: the sync wait is measured from the trace", cuda, wait is not None, wait
            )

    # Reports read the finished runs on spare cores while the next run trains.
    with ThreadPoolExecutor(max_workers=2) as pool:
        for slug in [None, *slugs]:
            name = slug or "clean"
            out = work / f"cnn-{name}"
            runs[name] = reference_run(out, "cnn", slug, 40)
            rec.figure("runs", runs)
            print(f"  ran cnn {name} in {runs[name]['wall_s']} s", flush=True)
            if runs[name]["rc"] == 0:
                pending[name] = pool.submit(report_json, out)
            else:
                reports[name] = None
            collect(wait=False)
        collect(wait=True)


# -- step 3: the seed article's claim ----------------------------------------------------


def time_iris(device: str, item_each_step: bool, steps: int) -> float:
    """Plain timing (no perfkit) of the Iris MLP's full-batch SGD steps, in ms per step.

    ``item_each_step``: the article's loop, which reads ``loss.item()`` every step."""
    import torch
    from torch import nn

    from perfkit.reference import iris

    torch.manual_seed(0)
    x, y = iris.iris_like_data(torch.Generator().manual_seed(0))
    x, y = x.to(device), y.to(device)
    model = nn.Sequential(nn.Linear(4, 10), nn.ReLU(), nn.Linear(10, 3)).to(device)
    opt = torch.optim.SGD(model.parameters(), lr=0.05)

    def run(n: int) -> None:
        total = 0.0
        for _ in range(n):
            opt.zero_grad()
            loss = nn.functional.cross_entropy(model(x), y)
            loss.backward()
            opt.step()
            if item_each_step:
                total += loss.item()
        if device != "cpu":
            torch.cuda.synchronize()

    run(50)  # warm up: kernels loaded, allocator primed
    t0 = time.perf_counter()
    run(steps)
    return (time.perf_counter() - t0) * 1e3 / steps


def step_iris(rec: Recorder, work: Path, dry: bool) -> None:
    """The article measured the Iris MLP 3.9x slower on a GPU than on the CPU (per-step
    ``loss.item()`` and launch overhead). Both loops, both devices, one process; then
    perfkit's reports on the reference Iris loop on this device, clean and with host-sync."""
    import torch

    cuda = has_cuda()
    steps = 300 if dry else 1000
    rec.figure("steps", steps)
    rec.figure("cpu_threads", torch.get_num_threads())
    for style, item in (("article_item_each_step", True), ("no_sync", False)):
        cpu_ms = time_iris("cpu", item, steps)
        row: dict[str, Any] = {"cpu_ms_per_step": round(cpu_ms, 4)}
        if cuda:
            gpu_ms = time_iris("cuda", item, steps)
            row["gpu_ms_per_step"] = round(gpu_ms, 4)
            row["gpu_over_cpu"] = round(gpu_ms / cpu_ms, 2)
        else:
            row["gpu_ms_per_step"] = NEEDS_CUDA
        rec.figure(style, row)
        print(f"  iris {style}: {row}", flush=True)
    rec.figure("article_claim", "GPU 3.9x slower than CPU (loss.item() syncs, launch overhead)")
    for slug in (None, "host-sync"):
        name = slug or "clean"
        out = work / f"iris-{name}"
        info = reference_run(out, "iris", slug, 200)
        if info["rc"]:
            rec.check(f"perfkit reference iris {name}", False, info)
            continue
        report = report_json(out)
        rec.figure(
            f"perfkit_{name}",
            {
                "device": report["summary"].get("device"),
                "median_step_ms": report["summary"].get("median_step_ms"),
                "codes": finding_codes(report),
                "findings": [
                    {k: f.get(k) for k in ("code", "severity", "message")}
                    for f in report.get("findings", [])
                ],
            },
        )
        if slug:
            found = finding(report, "PK101")
            rec.check("iris host-sync: PK101 found", found is not None, brief(found))
            wait = (found or {}).get("evidence", {}).get("sync_wait_ms_per_step")
            rec.cuda_check(
                "iris host-sync: sync wait measured from the trace", cuda, wait is not None, wait
            )


# -- step 4: NVML samples, the trace's kernels and copies, TensorBoard --------------------


def read_trace(path: Path) -> dict:
    """Count a Kineto trace's events by category; name its copies and its busiest kernels."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt") as f:
        events = json.load(f).get("traceEvents", [])
    cats = Counter(str(e.get("cat", "")).lower() for e in events)
    kernels = Counter(e.get("name") for e in events if str(e.get("cat", "")).lower() == "kernel")
    copies = Counter(
        e.get("name") for e in events if str(e.get("cat", "")).lower() in ("gpu_memcpy", "memcpy")
    )
    return {
        "file": path.name,
        "bytes": path.stat().st_size,
        "categories": dict(cats.most_common()),
        "kernels": sum(kernels.values()),
        "memcpys": sum(copies.values()),
        "memcpy_kinds": dict(copies.most_common()),
        "top_kernels": [(name[:120], n) for name, n in kernels.most_common(8)],
    }


def plausible_series(values: list, low: float, high: float) -> dict:
    real = [v for v in values if isinstance(v, (int, float))]
    return {
        "samples": len(values),
        "readable": len(real),
        "nonzero": sum(1 for v in real if v > 0),
        "min": min(real) if real else None,
        "max": max(real) if real else None,
        "in_range": bool(real) and all(low <= v <= high for v in real),
    }


def get_json(port: int, path: str) -> Any:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as r:
        return json.loads(r.read())


def tensorboard_listing(rec: Recorder, run_dir: Path, cuda: bool, deadline_s: float) -> None:
    """``perfkit tensorboard`` on the run; the profiler plugin's runs, views and kernels."""
    from perfkit.commands.tensorboard import free_port

    port = free_port()
    proc = subprocess.Popen(
        [PYTHON, "-m", "perfkit", "tensorboard", str(run_dir), "--port", str(port)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    api = "/data/plugin/pytorch_profiler"
    listing: dict[str, Any] = {}
    try:
        t0 = time.monotonic()
        while True:
            try:
                runs = get_json(port, f"{api}/runs")
                if runs["runs"] and not runs["loading"]:
                    break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() - t0 > deadline_s:
                out = "" if proc.poll() is None else proc.stderr.read()[-800:]
                rec.check("TensorBoard's profiler plugin lists the run", False, out or "timed out")
                return
            time.sleep(0.5)
        listing["ready_s"] = round(time.monotonic() - t0, 1)
        listing["runs"] = runs["runs"]
        run = runs["runs"][0]
        listing["views"] = get_json(port, f"{api}/views?run={run}")
        [worker] = get_json(port, f"{api}/workers?run={run}&view=Overview")[:1]
        [span] = get_json(port, f"{api}/spans?run={run}&worker={worker}")[:1]
        query = f"run={run}&worker={worker}&span={span}"
        overview = get_json(port, f"{api}/overview?{query}")
        listing["overview_steps"] = len(overview.get("steps", {}).get("rows", []))
        listing["overview_device"] = overview.get("environments")
        if "Kernel" in listing["views"]:
            table = get_json(port, f"{api}/kernel/table?{query}&group_by=Kernel")
            rows = table.get("data", {}).get("rows", []) if isinstance(table, dict) else []
            listing["kernel_rows"] = len(rows)
            listing["kernel_top"] = rows[:3]
        rec.figure("tensorboard", listing)
        rec.check(
            "TensorBoard's profiler plugin lists the run with its overview",
            listing["runs"] == [run_dir.name] and "Overview" in listing["views"],
            {k: listing[k] for k in ("runs", "views", "overview_steps")},
        )
        rec.cuda_check(
            "TensorBoard's profiler plugin lists the kernels",
            cuda,
            listing.get("kernel_rows", 0) > 0,
            listing.get("kernel_rows"),
        )
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()


def step_nvml_trace(rec: Recorder, work: Path, dry: bool) -> None:
    """A clean cnn run long enough for NVML to sample it, with the default profiler window."""
    cuda = has_cuda()
    out = work / "cnn-sampled"
    steps = 60 if dry else 400
    info = reference_run(out, "cnn", None, steps, "--sample-hz", "50")
    rec.figure("run", info)
    if info["rc"]:
        rec.check("perfkit reference cnn (sampled)", False, info)
        return
    samples = run_file(out).get("samples", {})
    nvml, series = samples.get("nvml", {}), samples.get("series", {})
    rec.figure("nvml", nvml)
    rec.figure("samples", len(series.get("t", [])))
    rec.cuda_check("NVML available during the run", cuda, bool(nvml.get("available")), nvml)
    if not cuda:
        rec.figure("nvml_reason_on_cpu", nvml.get("reason"))
    memory = 200e9  # above any GPU's memory today
    ranges = {
        "gpu_util": (0, 100),
        "gpu_mem_used_bytes": (1, memory),
        "power_w": (1, 2000),
        "pcie_tx_kbs": (0, 1e9),
        "pcie_rx_kbs": (0, 1e9),
    }
    for key, (low, high) in ranges.items():
        stats = plausible_series(series.get(key, []), low, high)
        rec.figure(f"series_{key}", stats)
        if key in ("gpu_util", "gpu_mem_used_bytes"):
            ok = stats["readable"] > 0 and stats["nonzero"] > 0 and stats["in_range"]
            rec.cuda_check(f"NVML {key}: readable, non-zero, in range", cuda, ok, stats)
    traces = sorted(out.glob("*.pt.trace.json*"))
    rec.figure("trace_files", [t.name for t in traces])
    rec.check("the profiler window wrote a trace", bool(traces), [t.name for t in traces])
    if traces:
        summary = read_trace(traces[0])
        rec.figure("trace", summary)
        rec.cuda_check(
            "the trace holds CUDA kernels", cuda, summary["kernels"] > 0, summary["kernels"]
        )
        rec.cuda_check(
            "the trace holds memcpys", cuda, summary["memcpys"] > 0, summary["memcpy_kinds"]
        )
    report = report_json(out)
    trace = report["summary"].get("trace") or {}
    reported = {k: trace.get(k) for k in ("gpu_busy_share", "memcpy", "syncs", "device")}
    reported["top_kernels"] = (trace.get("top_kernels") or [])[:5]
    rec.figure("reported_trace", reported)
    rec.figure("codes", finding_codes(report))
    rec.figure("reported_nvml", report["summary"].get("nvml"))
    rec.cuda_check(
        "perfkit report shows the trace's kernels and copies",
        cuda,
        bool(reported["top_kernels"]) and bool(reported["memcpy"]),
        {k: reported[k] for k in ("gpu_busy_share", "memcpy")},
    )
    tensorboard_listing(rec, out, cuda, deadline_s=45)


# -- step 5: capture overhead on the device -----------------------------------------------


def step_overhead(rec: Recorder, work: Path, dry: bool) -> None:
    """bench/overhead.py's interleaved pairs and rotating profiler blocks, on this device."""
    import torch

    sys.path.insert(0, str(REPO / "bench"))
    import overhead

    device = "cuda" if has_cuda() else "cpu"
    torch.set_num_threads(1)  # as bench/overhead.py: thread jitter swamps microseconds
    rec.figure("device", device)
    pairs = {"iris": 200, "cnn": 20} if dry else {"iris": 1000, "cnn": 150}
    rotations = 4
    for preset in ("iris", "cnn"):
        t0 = time.perf_counter()
        rec.figure(f"overhead/{preset}", overhead.measure(preset, pairs[preset], device))
        rec.figure(
            f"profilers/{preset}", overhead.compare_profilers(preset, device, rotations=rotations)
        )
        print(f"  overhead {preset}: {time.perf_counter() - t0:.1f} s", flush=True)
    rec.check("overhead measured on " + device, True)


STEPS: dict[str, Callable[[Recorder, Path, bool], None]] = {
    "tests": step_tests,
    "injections": step_injections,
    "iris": step_iris,
    "nvml_trace": step_nvml_trace,
    "overhead": step_overhead,
}


# -- the orchestrator ----------------------------------------------------------------------


def device_info() -> dict:
    """The device, from this process (CUDA is initialised once, here, before the steps)."""
    import torch

    info: dict[str, Any] = {
        "cuda": torch.cuda.is_available(),
        "torch": torch.__version__,
        "torch_cuda": torch.version.cuda,
        "python": platform.python_version(),
        "host_cpus": os.cpu_count(),
    }
    if info["cuda"]:
        props = torch.cuda.get_device_properties(0)
        info.update(
            name=props.name,
            capability=f"{props.major}.{props.minor}",
            memory_gib=round(props.total_memory / 2**30, 1),
            multiprocessors=props.multi_processor_count,
            cudnn=torch.backends.cudnn.version(),
        )
        try:
            import pynvml

            pynvml.nvmlInit()
            info["driver"] = pynvml.nvmlSystemGetDriverVersion()
            pynvml.nvmlShutdown()
        except Exception as e:
            info["driver"] = f"unknown ({e})"
    else:
        info["name"] = f"cpu: {platform.processor() or platform.machine()}"
    return info


def git_commit() -> str:
    """The commit checked, where git and .git are there (the device gets a bare copy)."""
    try:
        done = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True
        )
        dirty = subprocess.run(
            ["git", "status", "--porcelain"], cwd=REPO, capture_output=True, text=True
        )
    except OSError:
        return "unknown (no git)"
    if done.returncode:
        return "unknown (not a git checkout)"
    return done.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")


def judge(result: dict) -> str:
    checks = result.get("checks", [])
    if result.get("status") in ("timeout", "error"):
        return result["status"]
    if any(c["ok"] is False for c in checks):
        return "fail"
    if checks and all(c["ok"] is None for c in checks):
        return "skipped"
    return "ok"


def run_step(name: str, work: Path, dry: bool, cap_s: float) -> dict:
    """One step in its own process, killed at its cap; what it recorded survives."""
    result_file = work / f"{name}.json"
    step_dir = work / name
    step_dir.mkdir()
    cmd = [PYTHON, __file__, "--step", name, "--work", str(step_dir), "--result", str(result_file)]
    if dry:
        cmd.append("--dry-run")
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(
            p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p
        ),
    }
    print(f"== {name} (cap {cap_s:.0f} s)", flush=True)
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        cmd,
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        out, _ = proc.communicate(timeout=cap_s)
        failure = f"exited with code {proc.returncode}" if proc.returncode else ""
        timed_out = False
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)  # the step's children (runs, TensorBoard) too
        out, _ = proc.communicate()
        failure, timed_out = f"killed at its {cap_s:.0f} s cap", True
    print(out, end="", flush=True)
    try:
        result = json.loads(result_file.read_text())
    except (OSError, ValueError):
        result = {"checks": [], "figures": {}}
    result["duration_s"] = round(time.perf_counter() - t0, 1)
    result["cap_s"] = round(cap_s)
    if failure:
        result["status"] = "timeout" if timed_out else "error"
        result["error"] = failure + "; output's end:\n" + "\n".join(out.splitlines()[-25:])
    result["status"] = judge(result)
    counts = Counter(
        {True: "passed", False: "failed", None: "skipped"}[c["ok"]] for c in result["checks"]
    )
    result["check_counts"] = dict(counts)
    print(f"== {name}: {result['status']} in {result['duration_s']} s {dict(counts)}", flush=True)
    return result


def pack_runs(work: Path, tar_path: Path) -> dict:
    """Run files, reports and (while they fit) traces, for re-reading without a GPU."""
    files = sorted(p for p in work.rglob("*") if p.is_file())
    small = [p for p in files if p.name in ("run.json", "report.json") or p.suffix == ".xml"]
    traces = sorted(
        (p for p in files if ".pt.trace.json" in p.name), key=lambda p: p.stat().st_size
    )
    total = sum(p.stat().st_size for p in small)
    kept, left = [], []
    for p in traces:
        if total + p.stat().st_size <= TAR_LIMIT_BYTES:
            kept.append(p)
            total += p.stat().st_size
        else:
            left.append(str(p.relative_to(work)))
    with tarfile.open(tar_path, "w:gz") as tar:
        for p in small + kept:
            tar.add(p, arcname=str(p.relative_to(work)))
    return {"file": tar_path.name, "bytes": tar_path.stat().st_size, "traces_left_out": left}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dry-run", action="store_true", help="rehearse on this machine")
    parser.add_argument("--only", help=f"comma-separated steps, of {','.join(ORDER)}")
    parser.add_argument("--budget-s", type=float, default=270, help="the whole run's time")
    parser.add_argument("--output", help="results file (default $OUT/gpu-results.json)")
    parser.add_argument("--step", help=argparse.SUPPRESS)
    parser.add_argument("--work", help=argparse.SUPPRESS)
    parser.add_argument("--result", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.step:  # inside a step's own process
        rec = Recorder(Path(args.result))
        try:
            STEPS[args.step](rec, Path(args.work), args.dry_run)
        except Exception:
            rec.data["exception"] = traceback.format_exc()[-3000:]
            rec.save()
            raise
        return 0

    t_start = time.perf_counter()
    out_dir = Path(os.environ["OUT"]) if os.environ.get("OUT") else REPO / "bench"
    output = Path(args.output) if args.output else out_dir / "gpu-results.json"
    output.parent.mkdir(parents=True, exist_ok=True)
    chosen = args.only.split(",") if args.only else list(ORDER)
    unknown = set(chosen) - set(STEPS)
    if unknown:
        parser.error(f"unknown steps: {', '.join(sorted(unknown))}")
    device = device_info()
    if not device["cuda"] and not args.dry_run:
        message = "no CUDA device here; use --dry-run to rehearse"
        output.write_text(json.dumps({"device": device, "error": message}, indent=1) + "\n")
        print(f"gpu_check: {message}", file=sys.stderr)
        return 2
    results: dict[str, Any] = {
        "schema": "perfkit.gpu-check/1",
        "dry_run": args.dry_run,
        "device": device,
        "commit": git_commit(),
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "budget_s": args.budget_s,
        "steps": {},
    }
    print(f"gpu_check: {device['name']}, torch {device['torch']}, dry run: {args.dry_run}")
    work = Path(tempfile.mkdtemp(prefix="perfkit-gpu-check-"))
    for name in [s for s in ORDER if s in chosen]:
        left = args.budget_s - (time.perf_counter() - t_start) - 10  # 10 s to pack and write
        if left < 15:
            results["steps"][name] = {"status": "not run", "error": "the time budget ran out"}
            continue
        results["steps"][name] = run_step(name, work, args.dry_run, min(CAPS[name], left))
        results["duration_s"] = round(time.perf_counter() - t_start, 1)
        output.write_text(json.dumps(results, indent=1, default=str) + "\n")
    try:
        results["runs_archive"] = pack_runs(work, output.with_name("gpu-runs.tar.gz"))
    except Exception as e:
        results["runs_archive"] = {"error": str(e)}
    results["work_dir"] = str(work)
    results["duration_s"] = round(time.perf_counter() - t_start, 1)
    statuses = Counter(s["status"] for s in results["steps"].values())
    results["summary"] = dict(statuses)
    output.write_text(json.dumps(results, indent=1, default=str) + "\n")
    print(f"gpu_check: {dict(statuses)} in {results['duration_s']} s -> {output}")
    return 0 if set(statuses) <= {"ok", "skipped"} else 1


if __name__ == "__main__":
    sys.exit(main())
