"""Tracks the epoch's average loss by summing loss tensors."""

import torch

torch.manual_seed(0)
model = torch.nn.Sequential(torch.nn.Linear(32, 64), torch.nn.Tanh(), torch.nn.Linear(64, 4))
opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
data = [(torch.randn(32, 32), torch.randint(0, 4, (32,))) for _ in range(60)]

epoch_loss = 0
for x, y in data:
    opt.zero_grad()
    loss = torch.nn.functional.cross_entropy(model(x), y)
    loss.backward()
    opt.step()
    epoch_loss += loss
print("mean loss", float(epoch_loss) / len(data))
