"""Inference only: no backward, no optimizer, just batches from a DataLoader."""

import torch
from torch.utils.data import DataLoader, TensorDataset

model = torch.nn.Linear(4, 2).eval()
loader = DataLoader(TensorDataset(torch.randn(128, 4)), batch_size=8)
with torch.inference_mode():
    for (x,) in loader:
        model(x)
