import sys

import torch

model = torch.nn.Linear(2, 1)
optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
for _ in range(5):
    optimizer.zero_grad()
    model(torch.ones(1, 2)).sum().backward()
    optimizer.step()
if sys.argv[1] == "raise":
    raise ValueError("the script's own error")
sys.exit(int(sys.argv[1]))
