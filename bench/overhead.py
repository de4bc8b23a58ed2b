"""Always-on capture overhead on the reference presets, measured in one process.

For each preset the same training loop alternates, step by step, between plain (perfkit's
probes removed, no session) and profiled (``@profile_step`` under a Session with the
sampler, heap scans and probe step on; the profiler window off, since it only covers a
few sampled steps). Each iteration is timed from fetching the batch to the end of the
step, so the DataLoader probe is paid too. Alternating every step puts both variants under
the same machine noise; the figures are medians over all pairs: iteration times, the
ratio of each pair, and the difference in microseconds (the fixed cost per step).

    python bench/overhead.py [--preset iris|cnn|all] [--pairs N]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from pathlib import Path
from tempfile import TemporaryDirectory

import torch
from torch import nn
from torch.utils.data import DataLoader

from perfkit import Session, profile_step
from perfkit.capture import probes, state
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


def iris_loop():
    x, y = iris.iris_like_data(torch.Generator().manual_seed(0))
    model = nn.Sequential(nn.Linear(4, 10), nn.ReLU(), nn.Linear(10, 3))

    def batches():
        while True:
            yield x, y

    return batches, sgd_step(model, torch.optim.SGD(model.parameters(), lr=0.05))


def cnn_loop():
    loader = DataLoader(
        cnn.SyntheticImages(cnn.TRAIN_SAMPLES, seed=1), batch_size=cnn.BATCH, shuffle=True
    )
    model = cnn.make_model()

    def batches():
        while True:
            yield from loader

    return batches, sgd_step(model, torch.optim.SGD(model.parameters(), lr=0.02, momentum=0.9))


def timed(batches, step) -> float:
    t0 = time.perf_counter()
    xb, yb = next(batches)
    step(xb, yb)
    return time.perf_counter() - t0


def measure(preset: str, pairs: int) -> dict[str, float]:
    torch.manual_seed(0)
    make_batches, raw_step = {"iris": iris_loop, "cnn": cnn_loop}[preset]()
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
    # The one closely-probed step and heap-scan steps are sampled outliers; medians skip them.
    p, q = statistics.median(plain), statistics.median(profiled)
    return {
        "plain_ms": round(p * 1e3, 4),
        "profiled_ms": round(q * 1e3, 4),
        "ratio": round(statistics.median(b / a for a, b in zip(plain, profiled)), 4),
        "fixed_cost_us": round(statistics.median(b - a for a, b in zip(plain, profiled)) * 1e6, 2),
        "pairs": pairs,
    }


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
    print(f"{'preset':<8}{'plain ms':>10}{'perfkit ms':>12}{'ratio':>8}{'fixed µs':>10}")
    for preset in presets:
        r = measure(preset, args.pairs or {"iris": 3000, "cnn": 300}[preset])
        results[f"overhead/{preset}"] = {**r, "machine": machine, "torch": torch.__version__}
        print(
            f"{preset:<8}{r['plain_ms']:>10.3f}{r['profiled_ms']:>12.3f}{r['ratio']:>8.3f}"
            f"{r['fixed_cost_us']:>10.1f}"
        )
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(f"written to {RESULTS}")


if __name__ == "__main__":
    main()
