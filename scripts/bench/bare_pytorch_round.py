#!/usr/bin/env python3
"""The same work as one flbench FedAvg round, as a bare PyTorch loop.

One model reused across the round's clients, one SGD-with-momentum
optimiser whose state is zeroed per client, batches gathered into
preallocated buffers, deltas written into preallocated tensors: the
cheapest honest way to simulate m clients on one process. flbench's
round cost is compared against this (scripts/bench/round_cost.sh).

Run with Debian's python3-torch (same LibTorch 1.13 as flbench):
  /usr/bin/python3 scripts/bench/bare_pytorch_round.py --clients-per-round 10 --rounds 20 --threads 2
"""
import argparse
import gzip
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


def load(path, offset):
    return np.frombuffer(gzip.open(path).read(), dtype=np.uint8, offset=offset)


class Mlp(nn.Module):  # the same 784-200-200-10 MLP as flbench's --model mlp
    def __init__(self):
        super().__init__()
        self.fc1, self.fc2, self.fc3 = nn.Linear(784, 200), nn.Linear(200, 200), nn.Linear(200, 10)

    def forward(self, x):
        return self.fc3(F.relu(self.fc2(F.relu(self.fc1(x.flatten(1))))))


def lenet_fedloru():
    """FedLoRU's LeNet as the authors write it (haemPark/fedloru_official,
    src/models/lenet.py, hidden 64, dropout 0.1): flbench's --model lenet-fedloru."""
    return nn.Sequential(
        nn.Conv2d(1, 64, 5, padding=1), nn.ReLU(True), nn.MaxPool2d(2),
        nn.Conv2d(64, 128, 5, padding=1), nn.ReLU(True), nn.MaxPool2d(2),
        nn.AdaptiveAvgPool2d((4, 4)), nn.Flatten(),
        nn.Linear(2048, 64), nn.ReLU(True), nn.Dropout(0.1),
        nn.Linear(64, 32), nn.ReLU(True), nn.Linear(32, 10))


def cnn_lbgm():
    """LBGM's Fashion-MNIST CNN (shams-sam/FedOptim, src/models/cnn.py):
    flbench's --model cnn-lbgm."""
    return nn.Sequential(
        nn.Conv2d(1, 20, 5), nn.ReLU(), nn.MaxPool2d(2, 2),
        nn.Conv2d(20, 50, 5), nn.ReLU(), nn.MaxPool2d(2, 2), nn.Flatten(),
        nn.Linear(800, 500), nn.ReLU(), nn.Linear(500, 10))


MODELS = {"mlp": Mlp, "lenet-fedloru": lenet_fedloru, "cnn-lbgm": cnn_lbgm}


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--data-dir", default="/usr/share/datasets/fashion-mnist")
    p.add_argument("--clients", type=int, default=100)
    p.add_argument("--clients-per-round", type=int, default=10)
    p.add_argument("--rounds", type=int, default=20)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--local-epochs", type=int, default=1)
    p.add_argument("--lr", type=float, default=0.05)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--model", choices=sorted(MODELS), default="mlp")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(1)
    pixels = torch.from_numpy(load(f"{a.data_dir}/train-images-idx3-ubyte.gz", 16).reshape(-1, 784).copy())
    labels = torch.from_numpy(load(f"{a.data_dir}/train-labels-idx1-ubyte.gz", 8).astype(np.int64))
    rng = np.random.default_rng(1)
    shares = np.array_split(rng.permutation(len(labels)), a.clients)  # IID, equal shares

    model = MODELS[a.model]()
    params = list(model.parameters())
    opt = torch.optim.SGD(params, lr=a.lr, momentum=0.9)
    glob = [q.detach().clone() for q in params]
    acc = [torch.zeros_like(q) for q in params]
    xb = torch.empty(a.batch_size, 784)  # viewed as images by the convolutional models
    yb = torch.empty(a.batch_size, dtype=torch.long)
    rb = torch.empty(a.batch_size, 784, dtype=torch.uint8)
    times = []
    for r in range(a.rounds):
        t0 = time.perf_counter()
        sampled = np.sort(rng.choice(a.clients, a.clients_per_round, replace=False))
        total = sum(len(shares[c]) for c in sampled)
        for t in acc:
            t.zero_()
        for c in sampled:
            with torch.no_grad():
                for q, g in zip(params, glob):
                    q.copy_(g)
            opt.state.clear()  # fresh momentum per client
            idx = shares[c]
            for _ in range(a.local_epochs):
                order = torch.from_numpy(rng.permutation(idx))
                for s in range(0, len(order), a.batch_size):
                    ids = order[s:s + a.batch_size]
                    n = len(ids)
                    torch.index_select(pixels, 0, ids, out=rb[:n])
                    torch.index_select(labels, 0, ids, out=yb[:n])
                    x = xb[:n]
                    x.copy_(rb[:n]).sub_(0.2860 * 255).div_(0.3530 * 255)
                    if a.model != "mlp":
                        x = x.view(n, 1, 28, 28)
                    opt.zero_grad(set_to_none=True)
                    loss = F.cross_entropy(model(x), yb[:n])
                    loss.backward()
                    opt.step()
            with torch.no_grad():
                w = len(idx) / total
                for t, q, g in zip(acc, params, glob):
                    t.add_(q - g, alpha=w)
        with torch.no_grad():
            for g, t in zip(glob, acc):
                g.add_(t)
        times.append(time.perf_counter() - t0)
    print(f"bare_pytorch_round: {a.model}, {a.rounds} rounds, {a.clients_per_round} clients/round, threads {a.threads}: "
          f"mean {np.mean(times[1:]):.4f} s/round (first round excluded)")


if __name__ == "__main__":
    main()
