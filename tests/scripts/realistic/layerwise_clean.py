"""Two-phase training: pretrain an autoencoder, then freeze the encoder and fit a linear probe."""

import torch
from torch import nn

torch.manual_seed(0)
device = "cuda" if torch.cuda.is_available() else "cpu"
X = torch.randn(2048, 32)
Y = (X[:, :4] * torch.tensor([1.0, -1.0, 0.5, 2.0])).argmax(1)

encoder = nn.Sequential(nn.Linear(32, 64), nn.ReLU(), nn.Linear(64, 16)).to(device)
decoder = nn.Sequential(nn.Linear(16, 64), nn.ReLU(), nn.Linear(64, 32)).to(device)
head = nn.Linear(16, 4).to(device)
autoencoder = nn.Sequential(encoder, decoder)
classifier = nn.Sequential(encoder, head)
iters, batch_size = 120, 64


def batches():
    for _ in range(iters):
        idx = torch.randint(0, len(X), (batch_size,))
        yield X[idx].to(device), Y[idx].to(device)


# Phase 1: reconstruction pretraining of encoder + decoder.
opt_a = torch.optim.Adam(autoencoder.parameters(), lr=1e-3)
for i, (x, _) in enumerate(batches()):
    loss = nn.functional.mse_loss(autoencoder(x), x)
    opt_a.zero_grad()
    loss.backward()
    opt_a.step()
    if i % 60 == 0:
        print(f"pretrain {i} recon {loss.item():.4f}")

# Phase 2: frozen encoder, train only the classification head.
encoder.requires_grad_(False)
opt_b = torch.optim.SGD(head.parameters(), lr=0.1, momentum=0.9)
for i, (x, y) in enumerate(batches()):
    loss = nn.functional.cross_entropy(classifier(x), y)
    opt_b.zero_grad()
    loss.backward()
    opt_b.step()
    if i % 60 == 0:
        print(f"probe {i} loss {loss.item():.4f}")
