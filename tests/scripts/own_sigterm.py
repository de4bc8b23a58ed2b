"""A decorated loop whose script handles SIGTERM itself: says so and exits with 3."""

import signal
import sys
import time

import torch

from perfkit import Session, profile_step


def on_term(signum, frame):
    print("the script's own handler ran", flush=True)
    sys.exit(3)


signal.signal(signal.SIGTERM, on_term)
model = torch.nn.Linear(2, 1)
optimizer = torch.optim.SGD(model.parameters(), lr=0.01)


@profile_step
def step():
    optimizer.zero_grad()
    model(torch.ones(4, 2)).sum().backward()
    optimizer.step()
    time.sleep(0.01)


with Session(sys.argv[1], window=None, quiet=True):
    while True:
        step()
