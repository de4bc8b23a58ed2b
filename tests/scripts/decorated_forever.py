"""A decorated training loop that runs until interrupted.

    python decorated_forever.py RUN_DIR [own-sigterm]

With ``own-sigterm`` the script handles SIGTERM itself: it says so and exits with 3.
"""

import signal
import sys
import time

import torch

from perfkit import Session, profile_step


def on_term(signum, frame):
    print("the script's own handler ran", flush=True)
    sys.exit(3)


if "own-sigterm" in sys.argv[2:]:
    signal.signal(signal.SIGTERM, on_term)

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
