#!/usr/bin/env bash
# GPU check for a bare machine with an NVIDIA GPU, nvcc, cmake and python3
# (with PyTorch for the comparison); no Node and no network needed.
#
#   bash scripts/device-check.sh            # from the repository root
#
# 1. builds the engine-only executable bp_cuda_test and the CUDA library
#    (the same GPU targets the package ships),
# 2. prints one real NVML reading per GPU and the cost of one reading,
# 3. runs CPU/GPU parity (gradients, losses, predictions, determinism, OOM),
# 4. times training steps of 784-256-128-10 and 4096-4096-4096-10 at batch
#    128, 1024 and 8192, then the same models in PyTorch (eager, and
#    torch.compile where it works), plus cuBLAS's fp32 GEMM rate,
# 5. prints one comparison table.
# Exits 0 with "SKIP: ..." where there is no usable GPU; 1 when parity fails.
# Designed to finish in under 5 minutes.
#
# Environment: BUILD_DIR (default build-device-check; reuse one to skip the
# build), JOBS (default: all cores), PYTHON (default python3),
# SKIP_TORCH_COMPILE=1 to leave torch.compile out.
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD_DIR=${BUILD_DIR:-$ROOT/build-device-check}
JOBS=${JOBS:-$(nproc 2>/dev/null || echo 4)}
PYTHON=${PYTHON:-python3}
START=$(date +%s)
LOG_DIR=$(mktemp -d "${TMPDIR:-/tmp}/bp-device-check.XXXXXX")
trap 'rm -rf "$LOG_DIR"' EXIT

elapsed() { echo $(( $(date +%s) - START )); }
say() { printf '[%3ss] %s\n' "$(elapsed)" "$*"; }

for tool in cmake nvcc; do
  if ! command -v "$tool" >/dev/null 2>&1 && ! [ -x "/usr/local/cuda/bin/$tool" ]; then
    echo "device-check: $tool is required (not on PATH)"; exit 2
  fi
done
command -v nvcc >/dev/null 2>&1 || export PATH="/usr/local/cuda/bin:$PATH"

say "building bp_cuda_test and libbackpropagate_cuda.so in $BUILD_DIR ($JOBS jobs)"
if ! cmake -S "$ROOT" -B "$BUILD_DIR" -DBP_BUILD_TESTS=ON -DBP_BUILD_ADDON=OFF -DBP_CUDA=ON \
      -DCMAKE_BUILD_TYPE=Release >"$LOG_DIR/configure.log" 2>&1; then
  tail -30 "$LOG_DIR/configure.log"; echo "device-check: cmake configure failed"; exit 1
fi
grep -E "backpropagate:" "$LOG_DIR/configure.log" | sed 's/^-- /  /'
BUILD_START=$(date +%s)
if ! cmake --build "$BUILD_DIR" -j "$JOBS" --target bp_cuda_test >"$LOG_DIR/build.log" 2>&1; then
  tail -40 "$LOG_DIR/build.log"; echo "device-check: build failed"; exit 1
fi
say "built in $(( $(date +%s) - BUILD_START ))s"
EXE="$BUILD_DIR/bp_cuda_test"
if ! [ -f "$BUILD_DIR/libbackpropagate_cuda.so" ]; then
  echo "device-check: the CUDA library was not built (see the configure messages above)"; exit 1
fi

probe=$(timeout 60 "$EXE" --probe 2>&1)
echo "$probe" | sed 's/^/  /'
if grep -q '^SKIP:' <<<"$probe"; then
  exit 0
fi

say "NVML"
timeout 60 "$EXE" --nvml 2>&1 | grep -E '^NVML' | sed 's/^/  /'

say "parity (CPU engine vs CUDA backend)"
timeout 180 "$EXE" --parity >"$LOG_DIR/parity.log" 2>&1
PARITY_RC=$?
sed 's/^/  /' "$LOG_DIR/parity.log"

say "benchmark (our CUDA backend)"
timeout 150 "$EXE" --bench --tf32 >"$LOG_DIR/bench.log" 2>&1 || echo "  (benchmark exited with $?)"
grep '^BENCH' "$LOG_DIR/bench.log" | sed 's/^/  /'

say "PyTorch"
TORCH_BUDGET=$(( 285 - $(elapsed) ))
"$PYTHON" - "$LOG_DIR/bench.log" "$TORCH_BUDGET" "${SKIP_TORCH_COMPILE:-0}" <<'PY'
import sys, time, re
bench_log, budget, skip_compile = sys.argv[1], float(sys.argv[2]), sys.argv[3] == "1"
deadline = time.time() + max(budget, 30)

ours = {}
for line in open(bench_log):
    if line.startswith("BENCH "):
        kv = dict(p.split("=", 1) for p in line.split()[1:])
        ours[(kv["model"], int(kv["batch"]), kv["precision"])] = (float(kv["samples_per_s"]), float(kv["tflops"]))

models = ["784-256-128-10", "4096-4096-4096-10"]
batches = [128, 1024, 8192]
torch_rows, notes = {}, []
gemm = {}
try:
    import torch
    if not torch.cuda.is_available():
        raise RuntimeError("torch.cuda.is_available() is False")
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    dev = torch.device("cuda")
    notes.append(f"PyTorch {torch.__version__}, {torch.cuda.get_device_name(0)}")

    def gemm_rate(tf32):
        torch.backends.cuda.matmul.allow_tf32 = tf32
        a = torch.randn(4096, 4096, device=dev); b = torch.randn(4096, 4096, device=dev)
        for _ in range(3): a @ b
        torch.cuda.synchronize(); t = time.perf_counter(); n = 20
        for _ in range(n): a @ b
        torch.cuda.synchronize()
        torch.backends.cuda.matmul.allow_tf32 = False
        return 2 * 4096 ** 3 * n / (time.perf_counter() - t) / 1e12
    gemm["fp32"] = gemm_rate(False)
    gemm["tf32"] = gemm_rate(True)

    def make(spec):
        sizes = [int(s) for s in spec.split("-")]
        layers = []
        for i in range(len(sizes) - 1):
            layers.append(torch.nn.Linear(sizes[i], sizes[i + 1]))
            if i < len(sizes) - 2: layers.append(torch.nn.ReLU())
        return torch.nn.Sequential(*layers).to(dev), sizes

    def run(spec, batch, compiled):
        model, sizes = make(spec)
        try:
            opt = torch.optim.AdamW(model.parameters(), lr=1e-4, fused=True)
        except Exception:
            opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
        rows = max(batch, 8192)
        x = torch.randn(rows, sizes[0], device=dev); y = torch.randint(0, sizes[-1], (rows,), device=dev)
        lossf = torch.nn.CrossEntropyLoss()
        fwd = torch.compile(model) if compiled else model
        def step(i):
            idx = torch.randint(0, rows, (batch,), device=dev)  # index gather, as ours
            opt.zero_grad(set_to_none=True)
            loss = lossf(fwd(x[idx]), y[idx]); loss.backward(); opt.step()
        for i in range(5): step(i)
        torch.cuda.synchronize(); t = time.perf_counter(); n = 0
        while n < 10 or time.perf_counter() - t < 0.5:
            step(n); n += 1
            if time.perf_counter() - t > 4: break
        torch.cuda.synchronize()
        return n * batch / (time.perf_counter() - t)

    for spec in models:
        for b in batches:
            torch_rows[(spec, b, "eager")] = run(spec, b, False)
    if skip_compile:
        notes.append("torch.compile: skipped (SKIP_TORCH_COMPILE=1)")
    else:
        for spec in models:
            for b in batches:
                if time.time() > deadline - 20:
                    notes.append("torch.compile: stopped early to stay within the 5-minute budget"); break
                try:
                    torch_rows[(spec, b, "compile")] = run(spec, b, True)
                except Exception as e:
                    notes.append(f"torch.compile failed: {type(e).__name__}: {str(e).splitlines()[0][:120]}")
                    break
            else:
                continue
            break
except Exception as e:
    notes.append(f"PyTorch comparison unavailable: {type(e).__name__}: {e}")

def fmt(v): return f"{v:,.0f}" if v else "n/a"
print()
print(f"{'model':<19} {'batch':>5} | {'ours samples/s':>15} {'TFLOP/s':>7} | {'torch eager':>12} {'torch.compile':>13} | {'ours/eager':>10}")
print("-" * 97)
for spec in models:
    for b in batches:
        o = ours.get((spec, b, "fp32")); e = torch_rows.get((spec, b, "eager")); c = torch_rows.get((spec, b, "compile"))
        ratio = f"{o[0] / e:.2f}x" if o and e else "n/a"
        print(f"{spec:<19} {b:>5} | {fmt(o[0] if o else None):>15} {(f'{o[1]:.2f}' if o else 'n/a'):>7} | {fmt(e):>12} {fmt(c):>13} | {ratio:>10}")
for b in batches:
    o = ours.get(("4096-4096-4096-10", b, "tf32"))
    if o: print(f"{'4096-4096-4096-10':<19} {b:>5} | {fmt(o[0]):>15} {o[1]:>7.2f} | (ours with TF32 tensor cores)")
print()
if gemm:
    print(f"cuBLAS 4096^3 SGEMM: fp32 {gemm['fp32']:.1f} TFLOP/s, tf32 {gemm['tf32']:.1f} TFLOP/s")
    big = [ours[k][1] for k in ours if k[0] == "4096-4096-4096-10" and k[2] == "fp32"]
    if big: print(f"ours, large model, best fp32: {max(big):.2f} TFLOP/s = {100 * max(big) / gemm['fp32']:.0f}% of cuBLAS fp32 (target >= 60%)")
    bigt = [ours[k][1] for k in ours if k[0] == "4096-4096-4096-10" and k[2] == "tf32"]
    if bigt: print(f"ours, large model, best tf32: {max(bigt):.2f} TFLOP/s = {100 * max(bigt) / gemm['tf32']:.0f}% of cuBLAS tf32")
print("TFLOP/s counts 6 x parameters per sample (forward + backward). PyTorch: AdamW (fused where available), "
      "no per-step loss read-back; ours reads every step's loss back to the host.")
for n in notes: print(n)
PY

say "done"
if [ "$PARITY_RC" -ne 0 ]; then
  echo "device-check: PARITY FAILED (exit $PARITY_RC)"; exit 1
fi
echo "device-check: parity passed"
