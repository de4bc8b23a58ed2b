"""100-class classifier; keeps the best weights of each epoch and counts correct predictions
on the device to compute the training accuracy at the end."""

import copy

import torch
from torch.utils.data import DataLoader, TensorDataset

torch.manual_seed(0)
device = "cuda" if torch.cuda.is_available() else "cpu"
X = torch.randn(4096, 64)
Y = (X @ torch.randn(64, 100)).argmax(1)
val_x, val_y = X[:512].to(device), Y[:512].to(device)
loader = DataLoader(TensorDataset(X, Y), batch_size=128, shuffle=True)
model = torch.nn.Sequential(torch.nn.Linear(64, 256), torch.nn.ReLU(), torch.nn.Linear(256, 100)).to(device)
opt = torch.optim.Adam(model.parameters(), lr=1e-3)

best_loss, best_state = float("inf"), None
correct, seen = torch.zeros((), dtype=torch.long, device=device), 0
for epoch in range(5):
    for x, y in loader:
        x, y = x.to(device), y.to(device)
        out = model(x)
        loss = torch.nn.functional.cross_entropy(out, y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        correct += (out.argmax(1) == y).sum()
        seen += len(y)

    with torch.no_grad():
        val_loss = torch.nn.functional.cross_entropy(model(val_x), val_y).item()
    if val_loss < best_loss:
        best_loss, best_state = val_loss, copy.deepcopy(model.state_dict())
    print(f"epoch {epoch} val loss {val_loss:.4f}")

accuracy = correct.item() / seen
print(f"train accuracy {accuracy:.3f}, best val loss {best_loss:.4f}")
