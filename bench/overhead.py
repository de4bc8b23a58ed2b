"""Capture overhead on the reference presets, measured in one process.

Always-on layer: the same training loop alternates, step by step, between plain (perfkit's
probes removed, no session) and profiled (``@profile_step`` under a Session with the
sampler, heap scans and probe step on; the profiler window off, since it only covers a
few sampled steps). Each iteration is timed from fetching the batch to the end of the
step, so the DataLoader probe is paid too. Alternating every step puts both variants under
the same machine noise; the figures are medians over all pairs: iteration times, the
ratio of each pair, and the difference in microseconds (the fixed cost per step). Then the
same difference once the loop has settled after each switch (see ``settled_blocks``).

Next to profilers: a profiler cannot be switched on and off between two steps, so blocks
of steps rotate instead: plain, perfkit always-on, perfkit inside its profiler window
(which records shapes and stacks), ``torch.profiler`` with default settings, and with
``record_shapes``/``with_stack``. Opening and closing a torch.profiler happen outside the
timed steps; perfkit's own window opens and exports inside its first and last step, which
is reported apart as its cost per window. Each block's median is divided by the plain
block's of the same rotation; the ratio is the median over rotations.

    python bench/overhead.py [--preset iris|cnn|all] [--pairs N]

The functions take a ``device`` (default "cpu"); bench/gpu_check.py runs them on CUDA. There
each step is timed on the host without a synchronize, as a training loop runs: the GPU
works asynchronously, and only host time that the queue does not hide shows.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import platform
import statistics
import time
from pathlib import Path
from tempfile import TemporaryDirectory

import torch
from torch import nn
from torch.profiler import profile
from torch.utils.data import DataLoader

from perfkit import Session, profile_step
from perfkit.capture import probes, state
from perfkit.capture.window import WindowSpec, quiet_native_stderr
from perfkit.reference import cnn, iris

RESULTS = Path(__file__).with_name("results.json")


def sgd_step(model: nn.Module, opt: torch.optim.Optimizer):
    """The clean reference step, as a plain function of one batch."""

    def step(xb, yb):
        opt.zero_grad()
        loss = nn.functional.cross_entropy(model(xb), yb)
        loss.backward()
        opt.step()
        return loss

    return step


def iris_loop(device: str = "cpu"):
    x, y = iris.iris_like_data(torch.Generator().manual_seed(0))
    x, y = x.to(device), y.to(device)
    model = nn.Sequential(nn.Linear(4, 10), nn.ReLU(), nn.Linear(10, 3)).to(device)

    def batches():
        while True:
            yield x, y

    return batches, sgd_step(model, torch.optim.SGD(model.parameters(), lr=0.05))


def cnn_loop(device: str = "cpu"):
    on_gpu = device != "cpu"
    loader = DataLoader(
        cnn.SyntheticImages(cnn.TRAIN_SAMPLES, seed=1),
        batch_size=cnn.BATCH,
        shuffle=True,
        pin_memory=on_gpu,
    )
    model = cnn.make_model().to(device)
    step = sgd_step(model, torch.optim.SGD(model.parameters(), lr=0.02, momentum=0.9))
    if not on_gpu:
        return lambda: _forever(loader), step

    def to_device_step(xb, yb):  # the copy is part of a GPU step, as in the reference loop
        return step(xb.to(device, non_blocking=True), yb.to(device, non_blocking=True))

    return lambda: _forever(loader), to_device_step


def _forever(loader):
    while True:
        yield from loader


def timed(batches, step) -> float:
    t0 = time.perf_counter()
    xb, yb = next(batches)
    step(xb, yb)
    return time.perf_counter() - t0


def measure(preset: str, pairs: int, device: str = "cpu") -> dict[str, float]:
    torch.manual_seed(0)
    make_batches, raw_step = {"iris": iris_loop, "cnn": cnn_loop}[preset](device)
    batches = make_batches()
    plain: list[float] = []
    profiled: list[float] = []
    with TemporaryDirectory() as tmp:
        session = Session(Path(tmp) / "run", window=None, quiet=True)
        with session:
            decorated = profile_step(raw_step)
            for _ in range(20):  # warm up both paths
                timed(batches, decorated)
            for _ in range(pairs):
                state.session = None
                with probes.suspended():
                    plain.append(timed(batches, raw_step))
                state.session = session
                profiled.append(timed(batches, decorated))
            settled = settled_blocks(batches, raw_step, decorated, session, max(4, pairs // 50))
    # The one closely-probed step and heap-scan steps are sampled outliers; medians skip them.
    p, q = statistics.median(plain), statistics.median(profiled)
    return {
        "plain_ms": round(p * 1e3, 4),
        "profiled_ms": round(q * 1e3, 4),
        "ratio": round(statistics.median(b / a for a, b in zip(plain, profiled, strict=True)), 4),
        "fixed_cost_us": round(
            statistics.median(b - a for a, b in zip(plain, profiled, strict=True)) * 1e6, 2
        ),
        "pairs": pairs,
        "settled_fixed_cost_us": round(statistics.median(settled) * 1e6, 2),
        "settled_blocks": len(settled),
    }


def settled_blocks(batches, raw_step, decorated, session, rounds: int) -> list[float]:
    """The fixed cost once the loop has settled: switching the probes off and on changes
    attributes of torch.Tensor, which empties Python's type caches, and the next step pays
    ~100 µs to refill them (both sides of each pair above pay it). Here each round runs a
    block of plain steps and a block of profiled ones, each after settling steps that are
    not timed; the figure per round is the difference of the blocks' medians."""
    settle, size = 30, 100
    differences = []
    for _ in range(rounds):
        state.session = None
        with probes.suspended():
            for _ in range(settle):
                timed(batches, raw_step)
            plain = statistics.median(timed(batches, raw_step) for _ in range(size))
        state.session = session
        for _ in range(settle):
            timed(batches, decorated)
        differences.append(
            statistics.median(timed(batches, decorated) for _ in range(size)) - plain
        )
    return differences


# Steps per block and rotations for the profiler comparison.
BLOCKS = {"iris": (20, 40), "cnn": (4, 30)}
VARIANTS = (
    "plain",
    "perfkit",
    "perfkit window",
    "torch.profiler",
    "torch.profiler shapes+stack",
)


def compare_profilers(
    preset: str, device: str = "cpu", rotations: int = 0
) -> dict[str, dict[str, float]]:
    """Median step time of each variant, rotating blocks of steps (see the module doc).

    ``rotations``: 0 for the preset's default; a multiple of 4 keeps every unit in every
    place of the order equally often."""
    torch.manual_seed(0)
    make_batches, raw_step = {"iris": iris_loop, "cnn": cnn_loop}[preset](device)
    batches = make_batches()
    size, default_rotations = BLOCKS[preset]
    rotations = rotations or default_rotations
    times: dict[str, list[list[float]]] = {v: [] for v in VARIANTS}  # a block per rotation

    def block(variant: str, step) -> None:
        times[variant].append([timed(batches, step) for _ in range(size)])

    with TemporaryDirectory() as tmp:
        # wait = active = one block: the window records every other perfkit block.
        session = Session(Path(tmp) / "run", window=WindowSpec(size, 0, size, 0), quiet=True)
        with session:
            decorated = profile_step(raw_step)

            def without_perfkit(variant: str, profiler) -> None:
                state.session = None
                with probes.suspended(), quiet_native_stderr():
                    for _ in range(size):
                        timed(batches, raw_step)  # settle after the switch
                    with profiler:
                        block(variant, raw_step)
                state.session = session

            def with_perfkit() -> None:
                block("perfkit", decorated)  # the window's wait phase
                block("perfkit window", decorated)

            units = [
                lambda: without_perfkit("plain", contextlib.nullcontext()),
                with_perfkit,
                lambda: without_perfkit("torch.profiler", profile()),
                lambda: without_perfkit(
                    "torch.profiler shapes+stack", profile(record_shapes=True, with_stack=True)
                ),
            ]
            for _ in range(2 * size):  # warm up one whole window cycle
                timed(batches, decorated)
            for rotation in range(rotations):  # each unit takes every place in the order
                for unit in units[rotation % 4 :] + units[: rotation % 4]:
                    unit()
    # Machine speed drifts over seconds: each block is compared with the plain block of
    # the same rotation, and the ratio is the median over rotations.
    plain = [statistics.median(b) for b in times["plain"]]
    result = {}
    for variant, blocks in times.items():
        ratios = [statistics.median(b) / p for b, p in zip(blocks, plain, strict=True)]
        result[variant] = {
            "ms": round(statistics.median(t for b in blocks for t in b) * 1e3, 4),
            "ratio": round(statistics.median(ratios), 3),
        }
    window = times["perfkit window"]
    result["perfkit window"]["start_and_export_ms"] = round(
        statistics.median(sum(b) - size * statistics.median(b) for b in window) * 1e3, 1
    )
    return result


def main() -> None:
    # One intra-op thread: on a small shared machine, thread jitter swamps microseconds.
    torch.set_num_threads(1)
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--preset", choices=["iris", "cnn", "all"], default="all")
    parser.add_argument("--pairs", type=int, default=0, help="step pairs (default: per preset)")
    args = parser.parse_args()
    presets = ["iris", "cnn"] if args.preset == "all" else [args.preset]
    results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    machine = f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} threads"
    print(
        f"{'preset':<8}{'plain ms':>10}{'perfkit ms':>12}{'ratio':>8}{'fixed µs':>10}"
        f"{'settled µs':>12}"
    )
    for preset in presets:
        r = measure(preset, args.pairs or {"iris": 3000, "cnn": 300}[preset])
        results[f"overhead/{preset}"] = {**r, "machine": machine, "torch": torch.__version__}
        print(
            f"{preset:<8}{r['plain_ms']:>10.3f}{r['profiled_ms']:>12.3f}{r['ratio']:>8.3f}"
            f"{r['fixed_cost_us']:>10.1f}{r['settled_fixed_cost_us']:>12.1f}"
        )
    for preset in presets:
        r = compare_profilers(preset)
        results[f"profilers/{preset}"] = {**r, "machine": machine, "torch": torch.__version__}
        print(f"\n{preset}: median step, ratio to plain (blocks of {BLOCKS[preset][0]} steps)")
        for variant in VARIANTS:
            print(f"  {variant:<30}{r[variant]['ms']:>10.3f} ms{r[variant]['ratio']:>8.2f}x")
        window = r["perfkit window"]["start_and_export_ms"]
        print(f"  perfkit window start + trace export: {window:.0f} ms per window")
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(f"written to {RESULTS}")


if __name__ == "__main__":
    main()
