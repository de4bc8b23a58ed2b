"""Gradient accumulation: four micro-batches per optimizer step, tracking the epoch's loss."""

import torch
from torch.utils.data import DataLoader, TensorDataset

torch.manual_seed(0)
device = "cuda" if torch.cuda.is_available() else "cpu"
X = torch.randn(1024, 32)
Y = (X[:, :10] + 0.3 * torch.randn(1024, 10)).argmax(1)
loader = DataLoader(TensorDataset(X, Y), batch_size=16, shuffle=True)
model = torch.nn.Sequential(torch.nn.Linear(32, 128), torch.nn.ReLU(), torch.nn.Linear(128, 10)).to(device)
opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
accum_steps = 4

for epoch in range(3):
    running = 0.0
    opt.zero_grad()
    for i, (x, y) in enumerate(loader):
        x, y = x.to(device), y.to(device)
        loss = torch.nn.functional.cross_entropy(model(x), y) / accum_steps
        loss.backward()
        running += loss.item()
        if (i + 1) % accum_steps == 0:
            opt.step()
            opt.zero_grad()
    print(f"epoch {epoch} loss {running / (len(loader) // accum_steps):.4f}")
