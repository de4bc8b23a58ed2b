"""nanoGPT-style training of a tiny token model on a memory-mapped uint16 token file."""

import os
import tempfile

import numpy as np
import torch
from torch import nn

torch.manual_seed(0)
device = "cuda" if torch.cuda.is_available() else "cpu"
device_type = "cuda" if "cuda" in device else "cpu"
vocab_size, block_size, batch_size = 256, 32, 32

# Stand-in for prepare.py: a token file on disk.
data_dir = tempfile.mkdtemp()
tokens = np.random.default_rng(0).integers(0, vocab_size, size=200_000, dtype=np.uint16)
tokens.tofile(os.path.join(data_dir, "train.bin"))


def get_batch():
    # recreate np.memmap every batch to avoid a memory leak, as nanoGPT does
    data = np.memmap(os.path.join(data_dir, "train.bin"), dtype=np.uint16, mode="r")
    ix = torch.randint(len(data) - block_size, (batch_size,))
    x = torch.stack([torch.from_numpy((data[i : i + block_size]).astype(np.int64)) for i in ix])
    y = torch.stack([torch.from_numpy((data[i + 1 : i + 1 + block_size]).astype(np.int64)) for i in ix])
    if device_type == "cuda":
        x, y = x.pin_memory().to(device, non_blocking=True), y.pin_memory().to(device, non_blocking=True)
    else:
        x, y = x.to(device), y.to(device)
    return x, y


class TinyLM(nn.Module):
    def __init__(self):
        super().__init__()
        self.tok = nn.Embedding(vocab_size, 64)
        self.pos = nn.Embedding(block_size, 64)
        self.mlp = nn.Sequential(nn.LayerNorm(64), nn.Linear(64, 128), nn.GELU(), nn.Linear(128, 64))
        self.lm_head = nn.Linear(64, vocab_size)

    def forward(self, idx, targets):
        h = self.tok(idx) + self.pos(torch.arange(idx.shape[1], device=idx.device))
        h = h + self.mlp(h)
        logits = self.lm_head(h)
        return logits, nn.functional.cross_entropy(logits.view(-1, vocab_size), targets.view(-1))


model = TinyLM().to(device)
optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
losses = []
for it in range(120):
    X, Y = get_batch()
    logits, loss = model(X, Y)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    losses.append(loss.item())
    if it % 100 == 0:
        print(f"iter {it}: loss {losses[-1]:.4f}")
