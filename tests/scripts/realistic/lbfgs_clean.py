"""Full-batch nonlinear regression with L-BFGS; the closure reads nothing back."""

import torch

torch.manual_seed(0)
device = "cuda" if torch.cuda.is_available() else "cpu"
X = torch.randn(512, 8, device=device)
Y = torch.sin(X[:, :1] * 2) + 0.5 * X[:, 1:2] * X[:, 2:3] + 0.05 * torch.randn(512, 1, device=device)
model = torch.nn.Sequential(torch.nn.Linear(8, 32), torch.nn.Tanh(), torch.nn.Linear(32, 1)).to(device)
opt = torch.optim.LBFGS(model.parameters(), lr=0.5, history_size=10, max_iter=5)


def closure():
    opt.zero_grad()
    loss = torch.nn.functional.mse_loss(model(X), Y)
    loss.backward()
    return loss


for step in range(80):
    loss = opt.step(closure)
    if step % 20 == 0:
        print(f"step {step} loss {loss.item():.4f}")

print(f"final loss {loss.item():.4f}")
