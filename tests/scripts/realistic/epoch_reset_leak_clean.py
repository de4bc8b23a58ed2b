"""Several short epochs; the epoch's loss is summed from detached loss tensors and reset each epoch."""

import torch

torch.manual_seed(0)
device = "cuda" if torch.cuda.is_available() else "cpu"
model = torch.nn.Sequential(torch.nn.Linear(32, 64), torch.nn.ReLU(), torch.nn.Linear(64, 5)).to(device)
opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
data = [(torch.randn(32, 32), torch.randint(0, 5, (32,))) for _ in range(25)]

for epoch in range(8):
    epoch_loss = 0
    for x, y in data:
        x, y = x.to(device), y.to(device)
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        epoch_loss += loss.detach()
    if epoch % 2 == 0:
        print(f"epoch {epoch} loss {epoch_loss.item() / len(data):.4f}")
