"""PyTorch baseline for the Fashion-MNIST row of `npm run bench`: the same
784-256-128-10 ReLU MLP, softmax cross-entropy, AdamW (lr 1e-3, weight decay
0.01, as backpropagate's defaults), batch 128, shuffled every epoch, on the
same IDX files (pixels / 255), on the CPU. Prints the training time (the
epochs only, not reading the files) and the test accuracy as JSON.

Usage: python3 pytorch_fashion_mnist.py DIR TORCH_THREADS [EPOCHS] [BATCH]

Run it with MALLOC_MMAP_THRESHOLD_=4294967296 MALLOC_TRIM_THRESHOLD_=4294967296
(bench/run.js does): otherwise every minibatch gather is a fresh mmap.
"""
import gzip
import json
import os
import sys
import time

import numpy as np
import torch

data_dir = sys.argv[1]
threads = int(sys.argv[2])
epochs = int(sys.argv[3]) if len(sys.argv) > 3 else 10
batch = int(sys.argv[4]) if len(sys.argv) > 4 else 128


def read_idx(name):
    """An IDX file (gzip'd or plain) as a numpy array, header checked."""
    path = os.path.join(data_dir, name)
    opener = gzip.open if os.path.exists(path) else open
    path = path if os.path.exists(path) else path[: -len(".gz")]
    with opener(path, "rb") as f:
        raw = f.read()
    if raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise SystemExit(f"{path}: not an unsigned-byte IDX file")
    dims = [int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(raw[3])]
    data = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * len(dims))
    if data.size != int(np.prod(dims)):
        raise SystemExit(f"{path}: {data.size} values, header says {dims}")
    return data.reshape(dims)


def images(name):
    a = read_idx(name)
    return torch.from_numpy(a.reshape(a.shape[0], -1).astype(np.float32) / 255.0)


def labels(name):
    return torch.from_numpy(read_idx(name).astype(np.int64))


torch.set_num_threads(threads)
# BENCH_TORCH_FLUSH_DENORMAL=1: denormals flushed to zero, as backpropagate's
# engine does (a run whose weights decay below FLT_MIN otherwise pays a
# microcode assist per operation); bench/run.js tries both settings.
torch.set_flush_denormal(os.environ.get("BENCH_TORCH_FLUSH_DENORMAL") == "1")
torch.manual_seed(0)
x = images("train-images-idx3-ubyte.gz")
y = labels("train-labels-idx1-ubyte.gz")
x_test = images("t10k-images-idx3-ubyte.gz")
y_test = labels("t10k-labels-idx1-ubyte.gz")
samples = x.shape[0]

model = torch.nn.Sequential(
    torch.nn.Linear(784, 256), torch.nn.ReLU(), torch.nn.Linear(256, 128), torch.nn.ReLU(), torch.nn.Linear(128, 10)
)
opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.01)
loss_fn = torch.nn.CrossEntropyLoss()

t0 = time.perf_counter()
for _ in range(epochs):
    perm = torch.randperm(samples)
    for i in range(0, samples, batch):
        idx = perm[i : i + batch]
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(model(x[idx]), y[idx])
        loss.backward()
        opt.step()
seconds = time.perf_counter() - t0

with torch.no_grad():
    accuracy = (model(x_test).argmax(1) == y_test).float().mean().item()
print(json.dumps({"seconds": seconds, "testAccuracy": accuracy, "torch": torch.__version__, "threads": threads, "epochs": epochs, "batch": batch}))
