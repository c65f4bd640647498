"""The familiar tutorial CNN trained the usual way, as a baseline for the cnn preset.

pytorch/examples' MNIST recipe: conv 32 -> conv 64 -> max-pool -> dropout ->
fc 128 -> fc 10; torchvision DataLoader with ToTensor + Normalize, batch 64,
Adadelta lr 1.0 with StepLR(gamma 0.7). Prints one JSON line per epoch:
cumulative training seconds and test accuracy. ``--until 0.99`` stops at the
first epoch that reaches 99.0% (at most ``--epochs``). Before the clock starts,
``--warmup-batches`` batches train a throwaway model, untimed, as the other
side's warm-up training does.
"""

import argparse
import json
import os
import time

import torch
import torch.nn.functional as F
import torchvision
from torch import nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, 3, 1)
        self.conv2 = nn.Conv2d(32, 64, 3, 1)
        self.dropout1 = nn.Dropout(0.25)
        self.dropout2 = nn.Dropout(0.5)
        self.fc1 = nn.Linear(9216, 128)
        self.fc2 = nn.Linear(128, 10)

    def forward(self, x):
        x = F.relu(self.conv1(x))
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        x = torch.flatten(self.dropout1(x), 1)
        x = self.dropout2(F.relu(self.fc1(x)))
        return self.fc2(x)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--data-dir", default=os.environ.get("MNIST_DATA_DIR", "MNIST_data/"))
    parser.add_argument("--epochs", type=int, default=1, help="at most this many epochs")
    parser.add_argument("--until", type=float, default=None, help="stop at the first epoch reaching this test accuracy")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--warmup-batches", type=int, default=0)
    args = parser.parse_args()
    torch.manual_seed(args.seed)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    transform = torchvision.transforms.Compose([torchvision.transforms.ToTensor(),
                                                torchvision.transforms.Normalize((0.1307,), (0.3081,))])
    train_set = torchvision.datasets.MNIST(args.data_dir, train=True, download=True, transform=transform)
    test_set = torchvision.datasets.MNIST(args.data_dir, train=False, transform=transform)
    train_loader = torch.utils.data.DataLoader(train_set, batch_size=64, shuffle=True)
    test_loader = torch.utils.data.DataLoader(test_set, batch_size=1000)
    if args.warmup_batches:
        throwaway = Net().to(device)
        warm = torch.optim.Adadelta(throwaway.parameters(), lr=1.0)
        for i, (data, target) in enumerate(train_loader):
            if i == args.warmup_batches:
                break
            warm.zero_grad()
            F.cross_entropy(throwaway(data.to(device)), target.to(device)).backward()
            warm.step()
        torch.manual_seed(args.seed)
    model = Net().to(device)
    optimizer = torch.optim.Adadelta(model.parameters(), lr=1.0)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.7)
    seconds = 0.0
    for epoch in range(1, args.epochs + 1):
        start = time.perf_counter()
        model.train()
        for data, target in train_loader:
            data, target = data.to(device), target.to(device)
            optimizer.zero_grad()
            F.cross_entropy(model(data), target).backward()
            optimizer.step()
        scheduler.step()
        if device.type == "cuda":
            torch.cuda.synchronize()
        seconds += time.perf_counter() - start
        model.eval()
        correct = 0
        with torch.no_grad():
            for data, target in test_loader:
                correct += (model(data.to(device)).argmax(1) == target.to(device)).sum().item()
        print(json.dumps({"epoch": epoch, "train_seconds": seconds, "test_accuracy": correct / len(test_set),
                          "device": str(device), "seed": args.seed}), flush=True)
        if args.until is not None and correct / len(test_set) >= args.until:
            break


if __name__ == "__main__":
    main()
