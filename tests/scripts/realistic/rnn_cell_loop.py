"""Sequence classifier with an LSTM cell stepped over the sequence in a Python loop."""

import torch
from torch import nn

torch.manual_seed(0)
device = "cuda" if torch.cuda.is_available() else "cpu"
seq_len, batch_size, n_features, hidden = 64, 32, 16, 64


class SeqClassifier(nn.Module):
    def __init__(self):
        super().__init__()
        self.cell = nn.LSTMCell(n_features, hidden)
        self.fc = nn.Linear(hidden, 2)

    def forward(self, x):  # x: (batch, seq, features)
        h = x.new_zeros(x.shape[0], hidden)
        c = x.new_zeros(x.shape[0], hidden)
        for t in range(x.shape[1]):
            h, c = self.cell(x[:, t], (h, c))
        return self.fc(h)


X = torch.randn(640, seq_len, n_features)
Y = (X[:, :, 0].cumsum(1)[:, -1] > 0).long()
model = SeqClassifier().to(device)
opt = torch.optim.Adam(model.parameters(), lr=1e-3)
for epoch in range(3):
    for i in range(0, len(X), batch_size):
        x, y = X[i : i + batch_size].to(device), Y[i : i + batch_size].to(device)
        loss = nn.functional.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    print(f"epoch {epoch} loss {loss.item():.4f}")
