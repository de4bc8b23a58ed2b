"""Where automatic steps end: one small state machine over the loop's signals.

A script run unchanged has no step markers, so steps are cut at the strongest signal the
loop gives: optimizer steps, else ``backward()`` calls, else DataLoader batches. A step
*ends* at its signal (the optimizer step closes the iteration); the first step starts at
the first sign of training seen, whatever its kind.

Real loops make this subtle, and each case is decided here, without touching torch, so
it can be tested with made-up signals:

- Gradient accumulation, a GAN's two backward passes, an LBFGS closure: several
  ``backward()`` calls come before the first ``optimizer.step()``. The optimizer then
  replaces backward as the source and the caller re-cuts from the first step's start.
- Two optimizers in one iteration (a GAN): the first one to step leads, and a step ends
  at each of its steps; the other stepping once in between belongs to the same step.
- Sequential optimizers (layer-wise training: A for N steps, then B for N steps): an
  optimizer that steps twice with no step of the leader in between takes the lead; its
  first step ended a step as well.
"""

from __future__ import annotations

from typing import Any

# Step sources, strongest first. A stronger signal, once seen, replaces a weaker one.
SOURCES = ("decorator", "optimizer", "backward", "batch")

WHY = {
    "decorator": "steps are marked by @profile_step or Session.step()",
    "optimizer": "a step ends at each optimizer.step() of the leading optimizer",
    "backward": "no optimizer stepped: a step ends at each backward() call",
    "batch": "no optimizer step or backward() call: a step ends at each DataLoader batch",
}


def stronger(a: str, b: str | None) -> bool:
    """Whether source ``a`` outranks ``b`` (None: no source yet)."""
    return b is None or SOURCES.index(a) < SOURCES.index(b)


class StepBoundaries:
    """Decides, signal by signal, whether a step ends.

    ``on_signal`` returns None when the signal's source replaces the current one (the
    caller re-cuts the steps taken so far into one first step ending now), else the times
    at which steps end: none, one, or two (a change of leading optimizer).
    """

    def __init__(self) -> None:
        self.source: str | None = None
        self.lead: int | None = None
        self.lead_changes = 0
        self.changes: list[dict[str, Any]] = []
        # Optimizers other than the leader that stepped since the last cut -> when.
        self._others: dict[int, float] = {}

    def on_signal(
        self, source: str, now: float, optimizer: int | None = None
    ) -> list[float] | None:
        if source != self.source and self.source is not None and not stronger(source, self.source):
            return []
        if source != self.source:
            if self.source is not None:
                self.changes.append({"from": self.source, "to": source})
            self.source, self.lead = source, optimizer
            self._others.clear()
            return None
        if source != "optimizer" or optimizer == self.lead:
            self._others.clear()
            return [now]
        earlier = self._others.get(optimizer)
        if earlier is None:
            self._others[optimizer] = now
            return []
        # Stepped twice without the leader: the leader has stopped, this one trains now.
        self.lead = optimizer
        self.lead_changes += 1
        self._others.clear()
        return [earlier, now]

    def to_json(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "why": WHY.get(self.source or "", "no step signal was seen"),
            "source_changes": list(self.changes),
            "lead_changes": self.lead_changes,
        }
