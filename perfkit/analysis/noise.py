"""Whether a change of the median step is beyond noise: a bootstrap interval from the
per-step times of both inputs.

Each resample draws every input's steps with replacement and takes the change of the
medians, ``median(new) / median(base) - 1``; the interval is the middle 95% of 2,000 such
changes. The seed is fixed, so the same inputs always give the same interval. A change is
beyond noise when the interval leaves out zero.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

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


def _interval(base: np.ndarray, new: np.ndarray) -> tuple[float, float]:
    rng = np.random.default_rng(SEED)
    per_chunk = max(1, _CHUNK_VALUES // (len(base) + len(new)))
    changes = []
    for start in range(0, RESAMPLES, per_chunk):
        n = min(per_chunk, RESAMPLES - start)
        b = np.median(base[rng.integers(0, len(base), (n, len(base)))], axis=1)
        m = np.median(new[rng.integers(0, len(new), (n, len(new)))], axis=1)
        changes.append(m / np.where(b > 0, b, np.nan) - 1)
    tail = 100 * (1 - CONFIDENCE) / 2
    low, high = np.nanpercentile(np.concatenate(changes), [tail, 100 - tail])
    return float(low), float(high)
