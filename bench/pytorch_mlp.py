"""PyTorch baseline for `npm run bench`: trains the same MLP the same way
(784-256-128-10, ReLU, softmax cross-entropy, Adam(W), shuffled minibatches
of synthetic data) on the CPU and prints samples/s as JSON.

Usage: python3 pytorch_mlp.py BATCH THREADS [SAMPLES] [EPOCHS]
       python3 pytorch_mlp.py BATCH THREADS SAMPLES --serve
With --serve it warms up, prints {"ready": true}, then runs one epoch per
line read from stdin and prints {"seconds": ...} for each (bench/paired-epochs.js
alternates these with our epochs, so both sides of a ratio see the same host).

bench/run.js runs it with MALLOC_MMAP_THRESHOLD_=4294967296 and
MALLOC_TRIM_THRESHOLD_=4294967296: each minibatch gather (128 x 784 floats,
401 KB) is above glibc's initial mmap threshold, so without them every step
maps and faults in fresh pages and the script measures malloc, not PyTorch.
It also sets OPENBLAS_NUM_THREADS (1 and 2), which Debian's pthread OpenBLAS
follows instead of torch.set_num_threads.
"""
import json
import os
import sys
import time

import torch

batch = int(sys.argv[1])
threads = int(sys.argv[2])
samples = int(sys.argv[3]) if len(sys.argv) > 3 else 8192
serve = len(sys.argv) > 4 and sys.argv[4] == "--serve"
epochs = int(sys.argv[4]) if len(sys.argv) > 4 and not serve else 3
torch.set_num_threads(threads)
# BENCH_TORCH_FLUSH_DENORMAL=1: denormals flushed to zero, as backpropagate's
# engine does (a run whose weights decay below FLT_MIN otherwise pays a
# microcode assist per operation); bench/run.js tries both settings.
torch.set_flush_denormal(os.environ.get("BENCH_TORCH_FLUSH_DENORMAL") == "1")
torch.manual_seed(0)
x = torch.randn(samples, 784)
y = torch.randint(0, 10, (samples,))
model = torch.nn.Sequential(
    torch.nn.Linear(784, 256), torch.nn.ReLU(), torch.nn.Linear(256, 128), torch.nn.ReLU(), torch.nn.Linear(128, 10)
)
opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.01)
loss_fn = torch.nn.CrossEntropyLoss()


def epoch():
    perm = torch.randperm(samples)
    for i in range(0, samples, batch):
        idx = perm[i : i + batch]
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(model(x[idx]), y[idx])
        loss.backward()
        opt.step()


epoch()  # warm-up
if serve:
    print(json.dumps({"ready": True, "torch": torch.__version__}), flush=True)
    for _line in sys.stdin:
        t0 = time.perf_counter()
        epoch()
        print(json.dumps({"seconds": time.perf_counter() - t0}), flush=True)
    sys.exit(0)
rates = []
for _ in range(epochs):
    t0 = time.perf_counter()
    epoch()
    rates.append(samples / (time.perf_counter() - t0))
rates.sort()
print(json.dumps({"samplesPerSecond": rates[len(rates) // 2], "torch": torch.__version__, "threads": threads, "batch": batch}))
