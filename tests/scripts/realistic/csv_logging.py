"""Regression with a DataLoader; logs every step's loss to a CSV like many tutorials do."""

import csv
import io

import torch
from torch.utils.data import DataLoader, TensorDataset

torch.manual_seed(0)
device = "cuda" if torch.cuda.is_available() else "cpu"
X = torch.randn(2048, 16)
Y = X @ torch.randn(16, 1) + 0.1 * torch.randn(2048, 1)
loader = DataLoader(TensorDataset(X, Y), batch_size=64, shuffle=True)
model = torch.nn.Sequential(torch.nn.Linear(16, 64), torch.nn.ReLU(), torch.nn.Linear(64, 1)).to(device)
opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
log = csv.writer(io.StringIO())

for epoch in range(2):
    for step, (x, y) in enumerate(loader):
        x, y = x.to(device), y.to(device)
        loss = torch.nn.functional.mse_loss(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        log.writerow([epoch, step, loss.item()])
