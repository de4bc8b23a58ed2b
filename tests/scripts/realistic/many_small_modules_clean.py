"""The same parameter budget and FLOPs in two wide layers: Linear(8, 256) + ReLU + Linear(256, 8)."""

import torch
from torch import nn

torch.manual_seed(0)
device = "cuda" if torch.cuda.is_available() else "cpu"


class ShallowWide(nn.Module):
    def __init__(self, width=8, hidden=256):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(width, hidden), nn.ReLU(), nn.Linear(hidden, width))

    def forward(self, x):
        return self.net(x)


model = ShallowWide().to(device)
opt = torch.optim.Adam(model.parameters(), lr=1e-3)
X, Y = torch.randn(1024, 8), torch.randn(1024, 8)
for step in range(120):
    i = (step * 16) % len(X)
    x, y = X[i : i + 16].to(device), Y[i : i + 16].to(device)
    loss = nn.functional.mse_loss(model(x), y)
    opt.zero_grad()
    loss.backward()
    opt.step()
    if step % 50 == 0:
        print(f"step {step} loss {loss.item():.4f}")
