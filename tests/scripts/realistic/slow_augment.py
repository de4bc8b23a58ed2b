"""Image-like data with a per-sample augmentation done in __getitem__, on the main thread."""

import sys
import time

import torch
from torch.utils.data import DataLoader, Dataset


class Augmented(Dataset):
    def __init__(self, n, cost_s):
        self.images = torch.randn(n, 3, 24, 24)
        self.labels = torch.randint(0, 5, (n,))
        self.cost_s = cost_s

    def __len__(self):
        return len(self.images)

    def __getitem__(self, i):
        time.sleep(self.cost_s)  # stands in for decoding a JPEG from disk
        img = self.images[i]
        if torch.rand(()) < 0.5:
            img = img.flip(-1)
        return img, self.labels[i]


torch.manual_seed(0)
workers = int(sys.argv[1]) if len(sys.argv) > 1 else 0  # python slow_augment.py [WORKERS]
loader = DataLoader(
    Augmented(640, 0.0005), batch_size=32, shuffle=True, num_workers=workers,
    persistent_workers=workers > 0,
)
model = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3), torch.nn.ReLU(), torch.nn.Flatten(), torch.nn.Linear(8 * 22 * 22, 5))
opt = torch.optim.SGD(model.parameters(), lr=0.01)
for x, y in loader:
    opt.zero_grad()
    torch.nn.functional.cross_entropy(model(x), y).backward()
    opt.step()
