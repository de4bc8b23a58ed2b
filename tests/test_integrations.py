"""Lightning and Hugging Face callbacks record the same run.json as @profile_step."""

from __future__ import annotations

import importlib.util

import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

from perfkit import analyze
from tests.conftest import read_run


def has(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def lightning_fit(tmp_path, log_step, window=None):
    """Train a tiny LightningModule one epoch (20 batches) under PerfkitCallback;
    ``log_step(module, loss)`` logs as the user would."""
    import lightning as L

    from perfkit.integrations.lightning import PerfkitCallback

    class Tiny(L.LightningModule):
        def __init__(self):
            super().__init__()
            self.net = torch.nn.Linear(8, 2)

        def training_step(self, batch, batch_idx):
            x, y = batch
            loss = torch.nn.functional.cross_entropy(self.net(x), y)
            log_step(self, loss)
            return loss

        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters(), lr=0.1)

    torch.manual_seed(0)
    data = DataLoader(TensorDataset(torch.randn(160, 8), torch.randint(0, 2, (160,))), batch_size=8)
    callback = PerfkitCallback(out=tmp_path / "run", window=window, sample_hz=0, quiet=True)
    trainer = L.Trainer(
        max_epochs=1,
        callbacks=[callback],
        logger=False,
        accelerator="cpu",
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    trainer.fit(Tiny(), data)
    return tmp_path / "run"


def hf_train(tmp_path, **arguments):
    """Train a tiny model 12 steps with the Hugging Face Trainer under PerfkitCallback."""
    from transformers import Trainer, TrainingArguments

    from perfkit.integrations.transformers import PerfkitCallback

    class Tiny(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.net = torch.nn.Linear(8, 2)

        def forward(self, x, labels=None):
            logits = self.net(x)
            return {"loss": torch.nn.functional.cross_entropy(logits, labels), "logits": logits}

    torch.manual_seed(0)
    data = [{"x": torch.randn(8), "labels": torch.tensor(i % 2)} for i in range(96)]
    args = TrainingArguments(
        output_dir=str(tmp_path / "hf"),
        max_steps=12,
        per_device_train_batch_size=8,
        report_to=[],
        save_strategy="no",
        logging_strategy="no",
        use_cpu=True,
        disable_tqdm=True,
        **arguments,
    )
    callback = PerfkitCallback(out=tmp_path / "run", window=None, sample_hz=0, quiet=True)
    Trainer(model=Tiny(), args=args, train_dataset=data, callbacks=[callback]).train()
    return tmp_path / "run"


@pytest.mark.skipif(not has("lightning"), reason="lightning is not installed")
def test_lightning_callback_records_one_step_per_batch(tmp_path):
    # loss.item(): a per-step sync, as many Lightning users write it
    run_dir = lightning_fit(tmp_path, lambda m, loss: m.log("loss", loss.item()), (3, 1, 2))
    run = read_run(run_dir)
    assert run.complete and len(run.steps) == 20
    assert all(s["batches"] == 1 for s in run.steps[1:])
    syncs = [s.get("events", {}).get("syncs", {}).get("count", 0) for s in run.steps]
    assert min(syncs) >= 1  # loss.item() in training_step
    assert run.traces and run.config["optimizers"][0]["type"].endswith("SGD")


@pytest.mark.skipif(not has("transformers"), reason="transformers is not installed")
def test_transformers_callback_records_one_step_per_optimizer_step(tmp_path):
    run = read_run(hf_train(tmp_path, gradient_accumulation_steps=1))
    assert run.complete and len(run.steps) == 12
    assert run.capture["step_source"] == "decorator"
    assert run.config["optimizers"] and run.config["dataloaders"]


@pytest.mark.skipif(not has("transformers"), reason="transformers is not installed")
@pytest.mark.parametrize("nan_filter", [True, False])
def test_the_trainers_own_nan_check_is_a_sync_with_the_trainers_fix(tmp_path, nan_filter):
    """Trainer's default NaN/inf check reads every step's loss back: a sync inside
    transformers, attributed to the user's call with Trainer's own option as the fix."""
    run_dir = hf_train(tmp_path, logging_nan_inf_filter=nan_filter)
    findings = {f.rule: f for f in analyze(run_dir).findings}
    if nan_filter:
        sync = findings["host-sync"]
        assert "inside transformers/trainer.py" in sync.message
        assert "logging_nan_inf_filter=False" in sync.fix
        assert all("site-packages" not in loc.file for loc in sync.locations)
    else:
        assert "host-sync" not in findings


@pytest.mark.skipif(not has("lightning"), reason="lightning is not installed")
def test_lightning_internals_are_never_finding_locations(tmp_path):
    # self.log(tensor): Lightning's metric code runs on it every step
    report = analyze(lightning_fit(tmp_path, lambda m, loss: m.log("loss", loss)))
    assert "direct-forward" not in {f.rule for f in report.findings}
    for f in report.findings:
        assert all("site-packages" not in loc.file for loc in f.locations), f
