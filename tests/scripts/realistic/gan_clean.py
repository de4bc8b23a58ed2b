"""A small GAN learning a ring of eight Gaussians; keeps a running sum of the generator losses."""

import math

import torch
from torch import nn

torch.manual_seed(0)
device = "cuda" if torch.cuda.is_available() else "cpu"
latent_dim, batch_size = 16, 64


def sample_real(n):
    """Points on a ring of eight Gaussian blobs."""
    angle = torch.randint(0, 8, (n,), device=device) * (2 * math.pi / 8)
    centers = torch.stack([torch.cos(angle), torch.sin(angle)], dim=1) * 2.0
    return centers + 0.05 * torch.randn(n, 2, device=device)


G = nn.Sequential(nn.Linear(latent_dim, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 2)).to(device)
D = nn.Sequential(nn.Linear(2, 64), nn.LeakyReLU(0.2), nn.Linear(64, 64), nn.LeakyReLU(0.2), nn.Linear(64, 1)).to(device)
opt_g = torch.optim.Adam(G.parameters(), lr=2e-4, betas=(0.5, 0.999))
opt_d = torch.optim.Adam(D.parameters(), lr=2e-4, betas=(0.5, 0.999))
bce = nn.BCEWithLogitsLoss()
ones = torch.ones(batch_size, 1, device=device)
zeros = torch.zeros(batch_size, 1, device=device)

g_loss_sum = torch.zeros((), device=device)
for it in range(200):
    real = sample_real(batch_size)
    fake = G(torch.randn(batch_size, latent_dim, device=device))

    # Discriminator: real -> 1, fake -> 0.
    d_loss = bce(D(real), ones) + bce(D(fake.detach()), zeros)
    opt_d.zero_grad()
    d_loss.backward()
    opt_d.step()

    # Generator: make D say 1 on fakes.
    g_loss = bce(D(fake), ones)
    opt_g.zero_grad()
    g_loss.backward()
    opt_g.step()

    g_loss_sum += g_loss.detach()
    if it % 100 == 0:
        print(f"iter {it} d_loss {d_loss.item():.3f} g_loss {g_loss.item():.3f}")

print(f"mean g_loss {(g_loss_sum / 200).item():.3f}")
