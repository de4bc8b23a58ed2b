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

    ``on_signal`` returns None when the steps taken so far must be re-cut into one first
    step ending now (a stronger source, or a less frequent optimizer taking the lead), else
    the times at which steps end: none, one, or two (the leader stopped and another
    optimizer trains now).
    """

    def __init__(self) -> None:
        self.source: str | None = None
        self.lead: int | None = None
        self.lead_changes = 0
        self.changes: list[dict[str, Any]] = []
        self._lead_steps = 0
        # Other optimizers: steps since the leader's last step, and when the first of them
        # was; the most such steps seen between two of the leader's; and how many steps the
        # leader had made when each last stepped.
        self._streak: dict[int, int] = {}
        self._streak_start: dict[int, float] = {}
        self._usual: dict[int, int] = {}
        self._seen_at: dict[int, int] = {}

    def on_signal(
        self, source: str, now: float, optimizer: int | None = None
    ) -> list[float] | None:
        if source != self.source and self.source is not None and not stronger(source, self.source):
            return []
        if source != self.source:
            if self.source is not None:
                self.changes.append({"from": self.source, "to": source})
            self.source = source
            self._lead_by(optimizer)
            return None
        if source != "optimizer" or optimizer is None:
            return [now]
        if optimizer == self.lead:
            for other, n in self._streak.items():
                self._usual[other] = max(self._usual.get(other, 0), n)
            self._streak.clear()
            self._streak_start.clear()
            self._lead_steps += 1
            return [now]
        streak = self._streak[optimizer] = self._streak.get(optimizer, 0) + 1
        self._streak_start.setdefault(optimizer, now)
        previous, self._seen_at[optimizer] = self._seen_at.get(optimizer), self._lead_steps
        if streak == 1 and previous is not None and self._lead_steps - previous >= 2:
            # It steps once every several steps of the leader (a WGAN's generator after
            # five critic steps): one of its periods is the training iteration.
            old, period = self.lead, self._lead_steps - previous
            self._lead_by(optimizer)
            if old is not None:
                self._usual[old] = period  # its steps in one of the new leader's periods
            self.changes.append({"from": "optimizer", "to": "optimizer", "lead": "less frequent"})
            return None
        if streak > max(1, 2 * self._usual.get(optimizer, 0)):
            # More steps without the leader than ever: the leader has stopped and this one
            # trains now (layer-wise training); its first step here ended a step too.
            earlier = self._streak_start[optimizer]
            self._lead_by(optimizer)
            return [earlier, now]
        return []

    def _lead_by(self, optimizer: int | None) -> None:
        if self.lead is not None and optimizer is not None and optimizer != self.lead:
            self.lead_changes += 1
        self.lead = optimizer
        self._lead_steps = 0
        self._streak.clear()
        self._streak_start.clear()
        self._seen_at.clear()

    def to_json(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "why": WHY.get(self.source or "", "no step signal was seen"),
            "source_changes": list(self.changes),
            "lead_changes": self.lead_changes,
        }
