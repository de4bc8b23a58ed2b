"""A deep stack of tiny blocks: 64 x (Linear(8, 8) + ReLU) on batches of 16."""

import torch
from torch import nn

torch.manual_seed(0)
device = "cuda" if torch.cuda.is_available() else "cpu"


class DeepNarrow(nn.Module):
    def __init__(self, width=8, depth=64):
        super().__init__()
        self.blocks = nn.ModuleList(nn.Sequential(nn.Linear(width, width), nn.ReLU()) for _ in range(depth))

    def forward(self, x):
        for block in self.blocks:
            x = block(x)
        return x


model = DeepNarrow().to(device)
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
