"""``PerfkitCallback`` for the Hugging Face ``Trainer``.

    from perfkit.integrations.transformers import PerfkitCallback
    trainer = Trainer(model, args, train_dataset=ds, callbacks=[PerfkitCallback(out="runs/exp1")])

One step per optimizer step (``on_step_begin`` to ``on_step_end``; with gradient
accumulation a step covers all its micro-batches).
"""

from __future__ import annotations

from typing import Any

from transformers import TrainerCallback

from perfkit.integrations._steps import StepMarker


class PerfkitCallback(TrainerCallback):
    def __init__(self, out: Any = None, **session_options: Any) -> None:
        self.marker = StepMarker("Hugging Face Trainer callback", out, **session_options)

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self.marker.train_begin()

    def on_step_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self.marker.step_begin()

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self.marker.step_end()

    def on_train_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self.marker.train_end()
