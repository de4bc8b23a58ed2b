"""Trains a classifier and validates after every few steps."""

import torch

torch.manual_seed(0)
model = torch.nn.Sequential(torch.nn.Linear(20, 64), torch.nn.ReLU(), torch.nn.Dropout(0.1), torch.nn.Linear(64, 3))
opt = torch.optim.Adam(model.parameters(), lr=1e-3)
train = [(torch.randn(32, 20), torch.randint(0, 3, (32,))) for _ in range(40)]
val_x, val_y = torch.randn(256, 20), torch.randint(0, 3, (256,))


def validate():
    model.eval()
    with torch.no_grad():
        acc = (model(val_x).argmax(1) == val_y).float().mean()
    model.train()
    return acc


for i, (x, y) in enumerate(train):
    opt.zero_grad()
    torch.nn.functional.cross_entropy(model(x), y).backward()
    opt.step()
    if i % 10 == 9:
        accuracy = validate()
