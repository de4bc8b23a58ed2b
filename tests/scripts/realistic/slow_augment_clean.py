"""The same data, decoded once up front, with the flip done on whole batches."""

import torch
from torch.utils.data import DataLoader, Dataset


class Augmented(Dataset):
    def __init__(self, n, cost_s):
        self.images = torch.randn(n, 3, 24, 24)
        self.labels = torch.randint(0, 5, (n,))

    def __len__(self):
        return len(self.images)

    def __getitem__(self, i):
        return self.images[i], self.labels[i]


def random_flip(batch):
    """Flip a random half of the batch in one vectorised op."""
    flip = torch.rand(len(batch)) < 0.5
    return torch.where(flip.view(-1, 1, 1, 1), batch.flip(-1), batch)


torch.manual_seed(0)
loader = DataLoader(Augmented(640, 0.0), batch_size=32, shuffle=True)
model = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3), torch.nn.ReLU(), torch.nn.Flatten(), torch.nn.Linear(8 * 22 * 22, 5))
opt = torch.optim.SGD(model.parameters(), lr=0.01)
for x, y in loader:
    x = random_flip(x)
    opt.zero_grad()
    torch.nn.functional.cross_entropy(model(x), y).backward()
    opt.step()
