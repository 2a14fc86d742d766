"""OpenBLAS SGEMM rate through numpy, for `npm run bench` (set OPENBLAS_NUM_THREADS)."""
import json
import sys
import time

import numpy as np

n = int(sys.argv[1]) if len(sys.argv) > 1 else 2048
a = np.random.rand(n, n).astype(np.float32)
b = np.random.rand(n, n).astype(np.float32)
a @ b
rates = []
for _ in range(5):
    t0 = time.perf_counter()
    a @ b
    rates.append(2 * n**3 / (time.perf_counter() - t0) / 1e9)
rates.sort()
print(json.dumps({"gflops": rates[len(rates) // 2]}))
