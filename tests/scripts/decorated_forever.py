"""A decorated training loop that runs until interrupted."""

import sys
import time

import torch

from perfkit import Session, profile_step

model = torch.nn.Linear(2, 1)
optimizer = torch.optim.SGD(model.parameters(), lr=0.01)


@profile_step
def step():
    optimizer.zero_grad()
    model(torch.ones(4, 2)).sum().backward()
    optimizer.step()
    time.sleep(0.01)


with Session(sys.argv[1], window=(2, 1, 3), quiet=True):
    while True:
        step()
