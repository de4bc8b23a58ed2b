"""Whether a change of the median step is beyond noise: a bootstrap interval from the
per-step times of both inputs.

Each resample draws every input's steps with replacement and takes the change of the
medians, ``median(new) / median(base) - 1``; the interval is the middle 95% of 2,000 such
changes. The seed is fixed, so the same inputs always give the same interval. A change is
beyond noise when the interval leaves out zero.

A long run keeps most of its steps only in sketches (counts in buckets ~2% wide, each value
within 1% of its bucket's middle): its change and interval come from each run's whole
histogram instead, each resample drawing the bucket counts from a multinomial (the same
bootstrap), with a bucket's values spread across it.
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from perfkit import sketch

RESAMPLES = 2000
CONFIDENCE = 0.95
SEED = 0
# Resampled step times held at once: bounds memory for runs of very many steps.
_CHUNK_VALUES = 4_000_000


@dataclass(frozen=True)
class StepChange:
    """The relative change of the median step, new against base (+0.12: 12% slower)."""

    change: float
    # The 95% interval of ``change``; None when an input has a single step.
    interval: tuple[float, float] | None
    # Why there is no interval ("" when there is one).
    no_interval: str = ""

    @property
    def beyond_noise(self) -> bool | None:
        """Whether the interval leaves out zero; None when it could not be computed."""
        if self.interval is None:
            return None
        low, high = self.interval
        return low > 0 or high < 0


def step_change(base_ms: Sequence[float], new_ms: Sequence[float]) -> StepChange | None:
    """The change of the median step with its interval; None when a side has no steps or a
    median step of zero (no change can be stated)."""
    if not base_ms or not new_ms:
        return None
    base_median = statistics.median(base_ms)
    if base_median <= 0:
        return None
    change = statistics.median(new_ms) / base_median - 1
    short = [name for name, steps in (("base", base_ms), ("new", new_ms)) if len(steps) < 2]
    if short:
        who = " and the ".join(short) + (" inputs have" if len(short) > 1 else " input has")
        return StepChange(change, None, f"the {who} one step")
    return StepChange(change, _interval(np.asarray(base_ms), np.asarray(new_ms)))


def sketched_change(
    base: tuple[Mapping[int, int], int], new: tuple[Mapping[int, int], int]
) -> StepChange | None:
    """``step_change`` over two sketches of step times (bucket counts, zeros), as
    ``Evidence.step_sketch`` gives them."""
    (b_lower, b_counts), (n_lower, n_counts) = _histogram(*base), _histogram(*new)
    b_total, n_total = int(b_counts.sum()), int(n_counts.sum())
    if not b_total or not n_total:
        return None
    base_median = _medians(b_lower, b_counts[None])[0]
    if base_median <= 0:
        return None
    change = float(_medians(n_lower, n_counts[None])[0] / base_median - 1)
    short = [name for name, total in (("base", b_total), ("new", n_total)) if total < 2]
    if short:
        who = " and the ".join(short) + (" inputs have" if len(short) > 1 else " input has")
        return StepChange(change, None, f"the {who} one step")
    rng = np.random.default_rng(SEED)
    b = _medians(b_lower, rng.multinomial(b_total, b_counts / b_total, RESAMPLES))
    m = _medians(n_lower, rng.multinomial(n_total, n_counts / n_total, RESAMPLES))
    return StepChange(change, _percentiles(m / np.where(b > 0, b, np.nan) - 1))


def _histogram(counts: Mapping[int, int], zeros: int) -> tuple[np.ndarray, np.ndarray]:
    """Each bucket's lower edge, ascending (0 for the zeros), and how many it holds."""
    order = sorted(counts)
    lower = np.array([0.0] + [sketch.GAMMA ** (i - 1) for i in order])
    return lower, np.array([zeros] + [counts[i] for i in order], dtype=np.int64)


def _medians(lower: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """The median of each row of ``counts`` (rows of one total), the mean of the two middle
    values when the total is even, as ``statistics.median``. A bucket's values are taken
    as spread evenly (on a log scale) across it: a median moves smoothly with the steps
    instead of jumping from bucket to bucket (~2% apart), so a 0.1% change reads as one."""
    total = int(counts[0].sum())
    cumulative = np.cumsum(counts, axis=1)
    rows = np.arange(len(counts))

    def at(rank: int) -> np.ndarray:
        index = (cumulative <= rank).sum(axis=1)  # the bucket holding that rank
        held = counts[rows, index]
        before = cumulative[rows, index] - held
        return lower[index] * sketch.GAMMA ** ((rank - before + 0.5) / held)

    return (at((total - 1) // 2) + at(total // 2)) / 2


def _percentiles(changes: np.ndarray) -> tuple[float, float]:
    tail = 100 * (1 - CONFIDENCE) / 2
    low, high = np.nanpercentile(changes, [tail, 100 - tail])
    return float(low), float(high)


def _interval(base: np.ndarray, new: np.ndarray) -> tuple[float, float]:
    rng = np.random.default_rng(SEED)
    per_chunk = max(1, _CHUNK_VALUES // (len(base) + len(new)))
    changes = []
    for start in range(0, RESAMPLES, per_chunk):
        n = min(per_chunk, RESAMPLES - start)
        b = np.median(base[rng.integers(0, len(base), (n, len(base)))], axis=1)
        m = np.median(new[rng.integers(0, len(new), (n, len(new)))], axis=1)
        changes.append(m / np.where(b > 0, b, np.nan) - 1)
    return _percentiles(np.concatenate(changes))
