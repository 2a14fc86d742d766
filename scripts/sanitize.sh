#!/usr/bin/env bash
# Builds the addon with AddressSanitizer + UndefinedBehaviorSanitizer and runs
# the mocha suite (or the files given) against it, with the sanitizer runtimes
# preloaded into Node. Any sanitizer report fails the run.
#   scripts/sanitize.sh [mocha test files...]
set -euo pipefail
cd "$(dirname "$0")/.."
npx cmake-js compile --out build-asan --CDBP_SANITIZE=ON --CDCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
addon="$PWD/build-asan/Release/backpropagate.node"
asan="$(g++ -print-file-name=libasan.so)"
ubsan="$(g++ -print-file-name=libubsan.so)"
log_dir="$PWD/build-asan/reports"
rm -rf "$log_dir" && mkdir -p "$log_dir"
files=("$@")
if [ ${#files[@]} -eq 0 ]; then
  # Everything except the packaging test (it repacks and reinstalls the
  # normal binary) and the engine test (already covered by test:native --asan).
  mapfile -t files < <(ls test/*.test.js | grep -v -e pack.test.js -e native-engine.test.js)
fi
export BACKPROP_NATIVE_PATH="$addon"
export LD_PRELOAD="$asan:$ubsan"
# Node's own allocations outlive exit by design: leaks are checked with narrow
# suppressions (test/sanitizers/lsan.supp); reports are written per process.
export ASAN_OPTIONS="detect_leaks=1:abort_on_error=0:halt_on_error=0:log_path=$log_dir/asan:detect_odr_violation=0"
export LSAN_OPTIONS="suppressions=$PWD/test/sanitizers/lsan.supp:print_suppressions=0"
export UBSAN_OPTIONS="print_stacktrace=1:log_path=$log_dir/ubsan"
status=0
npx mocha --no-config --timeout 180000 "${files[@]}" || status=$?
unset LD_PRELOAD
reports=$(grep -l -E "ERROR: (Address|Leak)Sanitizer|runtime error:" "$log_dir"/* 2>/dev/null || true)
if [ -n "$reports" ]; then
  echo "sanitize: sanitizer reports found:"
  for r in $reports; do echo "== $r"; head -60 "$r"; done
  exit 1
fi
echo "sanitize: no sanitizer report (mocha exit $status)"
exit $status
