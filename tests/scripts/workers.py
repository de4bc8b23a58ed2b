"""Trains from a DataLoader with two workers (fork or spawn); each worker notes what perfkit
state it sees. Used to check that workers never record, sample or write runs.

    python workers.py fork|spawn MARKS_DIR [RUN_DIR]   (RUN_DIR: a Session in the script)
"""

import contextlib

import json
import os
import sys
import threading

import torch
from torch.utils.data import DataLoader, Dataset


class Noting(Dataset):
    def __init__(self, marks: str) -> None:
        self.marks = marks

    def __len__(self) -> int:
        return 64

    def __getitem__(self, i):
        from perfkit.capture import state

        seen = {
            "session": state.session is not None,
            "threads": sorted(t.name for t in threading.enumerate()),
        }
        with open(os.path.join(self.marks, f"worker-{os.getpid()}.json"), "w") as f:
            json.dump(seen, f)
        return torch.full((4,), float(i)), torch.tensor([float(i)])


model = torch.nn.Linear(4, 1)
optimizer = torch.optim.SGD(model.parameters(), lr=0.001)


def train_step(x, y):
    optimizer.zero_grad()
    torch.nn.functional.mse_loss(model(x), y).backward()
    optimizer.step()


if __name__ == "__main__":
    context, marks = sys.argv[1], sys.argv[2]
    loader = DataLoader(
        Noting(marks), batch_size=8, num_workers=2, multiprocessing_context=context
    )
    session = contextlib.nullcontext()
    if len(sys.argv) > 3:
        import perfkit

        train_step = perfkit.profile_step(train_step)
        session = perfkit.Session(sys.argv[3], quiet=True)
    with session:
        for _ in range(2):
            for x, y in loader:
                train_step(x, y)
