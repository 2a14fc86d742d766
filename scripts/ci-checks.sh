#!/usr/bin/env bash
# The bounded memory and thread checks CI runs after `npm test` (each one also
# runs in full on its own: `npm run test:native -- --tsan`, `npm run sanitize`,
# `npm run fuzz`). Every step prints its duration so the CI budget stays
# measured; any finding fails the run.
#   scripts/ci-checks.sh
set -euo pipefail
cd "$(dirname "$0")/.."

step() {
  local name="$1"
  shift
  local t0
  t0=$(date +%s)
  echo "== ci-checks: $name"
  "$@"
  echo "== ci-checks: $name passed in $(($(date +%s) - t0)) s"
}

# The engine and its event queue without Node, several producer threads,
# under ThreadSanitizer.
step "engine tests under ThreadSanitizer" node scripts/native-test.js --tsan

# The same executable under valgrind memcheck (definite leaks and invalid
# accesses fail). The GEMM and trainer-loop tests are the slow ones under
# valgrind's CPU emulation, so CI runs the queue, checkpoint and GPU tests in
# full and the rest by `npm run test:native -- --valgrind` on demand.
step "engine tests under valgrind" node scripts/native-test.js --valgrind sha256 event_queue checkpoint gpu_condition gpu_eval gpu_nvml gpu_monitor gpu_guard trainer_event_order trainer_abort

# The addon built with AddressSanitizer + UndefinedBehaviorSanitizer, under
# the event, lifecycle, checkpoint, NVML and native-boundary (bad arguments
# to the raw binding) suites and the short stress run
# (the GPU monitor suite counts threads exactly, which ASan's own threads
# can upset; `npm run sanitize` runs it too).
sanitize_files=(test/training-events.test.js test/callback.test.js test/lifecycle.test.js test/checkpoint.test.js test/gpu-nvml.test.js test/native-boundary.test.js)
[ -f test/stress.test.js ] && sanitize_files+=(test/stress.test.js)
step "addon under ASan + UBSan" bash scripts/sanitize.sh "${sanitize_files[@]}"

# The checkpoint reader under libFuzzer for a bounded time (its progress
# lines go to a log; the final statistics, or the whole log on a finding, are
# printed).
fuzz_quietly() {
  mkdir -p build-fuzz
  if ! bash scripts/fuzz.sh 30 >build-fuzz/ci.log 2>&1; then
    tail -n 120 build-fuzz/ci.log
    return 1
  fi
  grep -E "^stat::|Done [0-9]+ runs" build-fuzz/ci.log || tail -n 5 build-fuzz/ci.log
}
step "checkpoint reader fuzzing (30 s)" fuzz_quietly
