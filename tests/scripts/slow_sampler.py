"""Decorated steps under a Session that is never closed, with a slow sampler (one sample
every 20 s) and a profiler window still open: the process must still exit at once."""

import sys
import time

import torch

import perfkit

model = torch.nn.Linear(2, 1)
optimizer = torch.optim.SGD(model.parameters(), lr=0.01)


@perfkit.profile_step
def step():
    optimizer.zero_grad()
    model(torch.ones(4, 2)).sum().backward()
    optimizer.step()


perfkit.Session(sys.argv[1], sample_hz=0.05, window=(0, 0, 10_000), quiet=True).start()
for _ in range(30):
    step()
print(f"last step at {time.time()}", flush=True)
