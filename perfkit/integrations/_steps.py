"""What both callbacks do: own a Session for the length of training, mark each step."""

from __future__ import annotations

from typing import Any

from perfkit.capture import guard, state
from perfkit.capture.session import Session


class StepMarker:
    """Starts a Session at train start (unless one is active), marks steps, closes it."""

    def __init__(self, label: str, out: Any = None, **session_options: Any) -> None:
        self.label = label  # how the report names what marked the steps
        self.options = {"out": out, **session_options}
        self.session: Session | None = None
        self._owned = False

    def train_begin(self) -> None:
        if state.session is not None:
            self.session = state.session  # an explicit perfkit.Session around the fit
            return
        self.session = Session(**self.options).start()
        self._owned = True

    def step_begin(self) -> None:
        if self.session is not None:
            guard.call("starting a step", self.session.begin_step, self.label)

    def step_end(self, error: BaseException | None = None) -> None:
        if self.session is not None:
            guard.call("ending a step", self.session.end_step, error)

    def train_end(self, error: BaseException | None = None) -> None:
        session, self.session = self.session, None
        if session is not None and self._owned:
            self._owned = False
            session.close(error=error)

    @property
    def run_dir(self):
        return self.session.run_dir if self.session is not None else None
