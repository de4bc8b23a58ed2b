"""``PerfkitCallback`` for PyTorch Lightning.

    from perfkit.integrations.lightning import PerfkitCallback
    trainer = L.Trainer(callbacks=[PerfkitCallback(out="runs/exp1")])

Each training batch (forward, backward, optimizer step) is one step; Lightning fetches the
next batch before ``on_train_batch_start``, so the DataLoader wait lands between steps.
"""

from __future__ import annotations

from typing import Any

try:
    from lightning.pytorch.callbacks import Callback
except ImportError:  # the older package name
    from pytorch_lightning.callbacks import Callback  # type: ignore[assignment]

from perfkit.integrations._steps import StepMarker


class PerfkitCallback(Callback):
    def __init__(self, out: Any = None, **session_options: Any) -> None:
        super().__init__()
        self.marker = StepMarker("Lightning callback", out, **session_options)

    def on_train_start(self, trainer: Any, pl_module: Any) -> None:
        self.marker.train_begin()

    def on_train_batch_start(
        self, trainer: Any, pl_module: Any, batch: Any, batch_idx: int
    ) -> None:
        self.marker.step_begin()

    def on_train_batch_end(
        self, trainer: Any, pl_module: Any, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        self.marker.step_end()

    def on_train_end(self, trainer: Any, pl_module: Any) -> None:
        self.marker.train_end()

    def on_exception(self, trainer: Any, pl_module: Any, exception: BaseException) -> None:
        self.marker.step_end(exception)
        self.marker.train_end(exception)
