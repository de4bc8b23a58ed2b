"""Quantiles of many values without keeping them: counts in logarithmic buckets.

A value v > 0 falls in bucket ``ceil(log(v) / log(GAMMA))``; every value of a bucket is
within ``ACCURACY`` (1%) of the bucket's representative value, so any quantile read back is
within 1% of the true one (the DDSketch construction, Masson et al., VLDB 2019). Sketches
merge by adding counts, so blocks of steps folded apart still give the whole run's median.
Zeros (an automatic step has no time outside itself) are counted apart. Pure Python on the
reading side; capture buckets a block's values with numpy in one call.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping

ACCURACY = 0.01
GAMMA = (1 + ACCURACY) / (1 - ACCURACY)
_LOG_GAMMA = math.log(GAMMA)
# Values at or below this count as zero (times here are milliseconds: 1 ps).
TINY = 1e-9


def bucket(value: float) -> int | None:
    """The bucket of a value, None for zero (and anything not above TINY)."""
    return math.ceil(math.log(value) / _LOG_GAMMA) if value > TINY else None


def representative(index: int) -> float:
    """The value that stands for a bucket: within ACCURACY of all it holds."""
    return 2 * GAMMA**index / (GAMMA + 1)


def add_values(counts: Counter[int], values: Iterable[float]) -> int:
    """Count values into ``counts``; returns how many were zero."""
    zeros = 0
    for v in values:
        b = bucket(v)
        if b is None:
            zeros += 1
        else:
            counts[b] += 1
    return zeros


def quantile(counts: Mapping[int, int], zeros: int, q: float) -> float | None:
    """The q-quantile (0..1) of the counted values, as the median of the middle rank(s) as
    ``statistics.median`` takes it; None when nothing was counted."""
    total = zeros + sum(counts.values())
    if total == 0:
        return None
    position = q * (total - 1)
    low, high = math.floor(position), math.ceil(position)
    a, b = _at_rank(counts, zeros, low), _at_rank(counts, zeros, high)
    return a + (b - a) * (position - low)


def _at_rank(counts: Mapping[int, int], zeros: int, rank: int) -> float:
    """The value of rank ``rank`` (0-based, ascending)."""
    if rank < zeros:
        return 0.0
    seen = zeros
    for index in sorted(counts):
        seen += counts[index]
        if rank < seen:
            return representative(index)
    return representative(max(counts))
