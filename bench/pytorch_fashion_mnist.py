"""PyTorch side of bench/cpu-compare.js: trains 784-256-128-10 (ReLU) on the
Fashion-MNIST training images (Debian's dataset-fashion-mnist, pixels / 255)
with AdamW 1e-3 at batch 128, and prints the training time and the test
accuracy as JSON. Usage: python3 pytorch_fashion_mnist.py THREADS EPOCHS"""
import gzip
import json
import sys
import time

import numpy as np
import torch

ROOT = "/usr/share/datasets/fashion-mnist/"


def idx(name, offset):
    with gzip.open(ROOT + name) as f:
        return np.frombuffer(f.read(), dtype=np.uint8, offset=offset)


threads = int(sys.argv[1])
epochs = int(sys.argv[2])
torch.set_num_threads(threads)
torch.manual_seed(0)
x = torch.from_numpy(idx("train-images-idx3-ubyte.gz", 16).reshape(-1, 784).astype(np.float32) / 255.0)
y = torch.from_numpy(idx("train-labels-idx1-ubyte.gz", 8).astype(np.int64))
tx = torch.from_numpy(idx("t10k-images-idx3-ubyte.gz", 16).reshape(-1, 784).astype(np.float32) / 255.0)
ty = torch.from_numpy(idx("t10k-labels-idx1-ubyte.gz", 8).astype(np.int64))
model = torch.nn.Sequential(
    torch.nn.Linear(784, 256), torch.nn.ReLU(), torch.nn.Linear(256, 128), torch.nn.ReLU(), torch.nn.Linear(128, 10)
)
opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.01)
loss_fn = torch.nn.CrossEntropyLoss()
t0 = time.perf_counter()
for _ in range(epochs):
    perm = torch.randperm(x.shape[0])
    for i in range(0, x.shape[0], 128):
        idx_ = perm[i : i + 128]
        opt.zero_grad(set_to_none=True)
        loss_fn(model(x[idx_]), y[idx_]).backward()
        opt.step()
seconds = time.perf_counter() - t0
with torch.no_grad():
    acc = (model(tx).argmax(1) == ty).float().mean().item()
print(json.dumps({"seconds": seconds, "testAccuracy": acc, "torch": torch.__version__}))
