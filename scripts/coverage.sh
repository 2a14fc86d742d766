#!/usr/bin/env bash
# `npm run coverage`: TypeScript line coverage with c8 and native line
# coverage with gcov (gcovr), from one mocha run against a gcov-instrumented
# addon plus the engine's own C++ tests. Prints both summaries and checks the
# targets (90% of ts/, 85% of native/); see test/README.md for what is
# deliberately not covered.
set -euo pipefail
cd "$(dirname "$0")/.."
# gcovr reads the native counters. It is installed here when it can be
# (Debian's package as root; pip's --user install otherwise); when neither
# works the message says what to install.
if ! command -v gcovr >/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "coverage: installing gcovr (apt-get install -y gcovr)"
    { apt-get install -y gcovr >/dev/null 2>&1 || { apt-get update >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y gcovr >/dev/null; }; } || true
  elif command -v python3 >/dev/null; then
    echo "coverage: installing gcovr (python3 -m pip install --user gcovr)"
    python3 -m pip install --user --quiet gcovr >/dev/null 2>&1 && export PATH="$HOME/.local/bin:$PATH" || true
  fi
fi
command -v gcovr >/dev/null || { echo "coverage: gcovr is not installed and could not be installed here: apt-get install -y gcovr (or pip install gcovr)"; exit 1; }
rm -rf coverage build-cov/**/*.gcda 2>/dev/null || true
npx cmake-js compile --out build-cov --CDBP_COVERAGE=ON --CDCMAKE_BUILD_TYPE=Debug >/dev/null
cmake -S . -B build-cov-native -DBP_BUILD_TESTS=ON -DBP_BUILD_ADDON=OFF -DBP_COVERAGE=ON -DCMAKE_BUILD_TYPE=Debug >/dev/null
cmake --build build-cov-native -j2 --target bp_engine_tests bp_alloc_tests >/dev/null
find build-cov build-cov-native -name '*.gcda' -delete
npm run build:ts >/dev/null
export BACKPROP_NATIVE_PATH="$PWD/build-cov/Release/backpropagate.node"
[ -f "$BACKPROP_NATIVE_PATH" ] || BACKPROP_NATIVE_PATH="$PWD/build-cov/Debug/backpropagate.node"
status=0
# The packaging test repacks the normal binary and the engine test is run directly below.
mapfile -t files < <(ls test/*.test.js | grep -v -e pack.test.js -e native-engine.test.js)
npx c8 --all --src dist --include 'ts/**' --include 'dist/**' --exclude '**/*.d.ts' --reporter text-summary --reporter text --reporter lcov \
  --report-dir coverage/ts --check-coverage --lines 90 \
  npx mocha --no-config --timeout 180000 "${files[@]}" || status=$?
./build-cov-native/bp_engine_tests >/dev/null || status=$?
./build-cov-native/bp_alloc_tests >/dev/null || status=$?
echo
echo "Native line coverage (native/engine + native/addon):"
gcovr --root . --filter 'native/engine/' --filter 'native/addon/' --exclude 'native/tests/' --exclude 'native/addon/dispatch_benchmark.cpp' \
  --print-summary --txt coverage/native.txt --html-details coverage/native.html \
  --fail-under-line 85 build-cov build-cov-native || status=$?
tail -n 3 coverage/native.txt || true
exit $status
