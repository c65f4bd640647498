"""The tutorial's program, the usual way: torchvision DataLoader + ToTensor, batch 1000.

Kept as the seed wrote it, with two changes: a CPU fallback where the seed
hard-codes cuda:0, and the test set scaled like the training set (the seed
evaluates on 0-255 pixels by mistake). Prints its lines, then one JSON line
with the training seconds, for benchmarks/bench_train.py.
"""

import argparse
import json
import os
import sys
import time

import torch
import torchvision

parser = argparse.ArgumentParser()
parser.add_argument("--data-dir", default=os.environ.get("MNIST_DATA_DIR", "MNIST_data/"))
parser.add_argument("--epochs", type=int, default=10)
args = parser.parse_args()

torch.manual_seed(0)
batch_size = 1000
mnist_train = torchvision.datasets.MNIST(root=args.data_dir, train=True, transform=torchvision.transforms.ToTensor(), download=True)
mnist_test = torchvision.datasets.MNIST(root=args.data_dir, train=False, transform=torchvision.transforms.ToTensor(), download=True)
data_loader = torch.utils.data.DataLoader(mnist_train, batch_size=batch_size, shuffle=True, drop_last=True)
device = torch.device("cuda:0" if torch.cuda.is_available() else "cpu")

linear = torch.nn.Linear(784, 10, bias=True).to(device)
loss = torch.nn.CrossEntropyLoss().to(device)
SDG = torch.optim.SGD(linear.parameters(), lr=0.1)
total_batch = len(data_loader)
training_epochs = args.epochs

start = time.perf_counter()
for epoch in range(training_epochs):
    total_cost = 0
    for X, Y in data_loader:
        X = X.view(-1, 28 * 28).to(device)
        Y = Y.to(device)
        hypothesis = linear(X)
        cost = loss(hypothesis, Y)
        SDG.zero_grad()
        cost.backward()
        SDG.step()
        total_cost += cost
    avg_cost = total_cost / total_batch
    print("Epoch:", "%03d" % (epoch + 1), "cost =", "{:.9f}".format(avg_cost))
if device.type == "cuda":
    torch.cuda.synchronize()
train_seconds = time.perf_counter() - start

with torch.no_grad():
    X_test = mnist_test.data.view(-1, 28 * 28).float().div(255).to(device)  # scaled like training
    Y_test = mnist_test.targets.to(device)
    prediction = linear(X_test)
    accuracy = (torch.argmax(prediction, 1) == Y_test).float().mean()
    print("Accuracy: ", accuracy.item())
print(json.dumps({"train_seconds": train_seconds, "test_accuracy": accuracy.item(), "device": str(device)}), file=sys.stderr)
