"""Trains until killed; used to check that SIGKILL or Ctrl-C leaves a readable run.

    python forever.py [SECONDS_PER_STEP]   (default 0.01)
"""

import sys
import time

import torch

pause = float(sys.argv[1]) if len(sys.argv) > 1 else 0.01
model = torch.nn.Linear(2, 1)
optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
while True:
    optimizer.zero_grad()
    model(torch.ones(4, 2)).sum().backward()
    optimizer.step()
    time.sleep(pause)
