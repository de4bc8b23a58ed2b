"""Decorated train_step; the loop sums the detached losses on the device, read once per epoch."""

import torch
from torch.utils.data import DataLoader, TensorDataset

from perfkit import profile_step

torch.manual_seed(0)
device = "cuda" if torch.cuda.is_available() else "cpu"
X = torch.randn(2048, 24)
Y = (X[:, :6] @ torch.randn(6, 6)).argmax(1)
loader = DataLoader(TensorDataset(X, Y), batch_size=64, shuffle=True)
model = torch.nn.Sequential(torch.nn.Linear(24, 96), torch.nn.ReLU(), torch.nn.Linear(96, 6)).to(device)
opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)


@profile_step
def train_step(x, y):
    loss = torch.nn.functional.cross_entropy(model(x), y)
    opt.zero_grad()
    loss.backward()
    opt.step()
    return loss.detach()


for epoch in range(3):
    total = torch.zeros((), device=device)
    for x, y in loader:
        x, y = x.to(device), y.to(device)
        loss = train_step(x, y)
        total += loss
    print(f"epoch {epoch} loss {total.item() / len(loader):.4f}")
