"""Unions of time intervals, and how much of any window they cover, with numpy."""

from __future__ import annotations

import numpy as np


class Intervals:
    """The union of ``[start, end)`` intervals; ``covered`` answers many windows at once."""

    def __init__(self, starts: np.ndarray, ends: np.ndarray) -> None:
        order = np.argsort(starts, kind="stable")
        s, e = starts[order], ends[order]
        reach = np.maximum.accumulate(e) if len(e) else e
        # A new piece starts where an interval begins after everything before it ended.
        gap = s[1:] > reach[:-1]
        self.starts = s[np.concatenate(([True], gap))] if len(s) else s
        self.ends = reach[np.concatenate((gap, [True]))] if len(s) else s
        self._before = np.concatenate(([0.0], np.cumsum(self.ends - self.starts)))

    @property
    def total(self) -> float:
        return float(self._before[-1])

    def _covered_until(self, x: np.ndarray) -> np.ndarray:
        i = np.searchsorted(self.starts, x, side="right") - 1
        inside = np.clip(x - self.starts[np.maximum(i, 0)], 0, None)
        inside = np.minimum(inside, (self.ends - self.starts)[np.maximum(i, 0)])
        return np.where(i >= 0, self._before[np.maximum(i, 0)] + inside, 0.0)

    def covered(self, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
        """Length of each ``[starts[k], ends[k])`` that the union covers."""
        if not len(self.starts):
            return np.zeros(len(starts))
        return self._covered_until(np.asarray(ends)) - self._covered_until(np.asarray(starts))
