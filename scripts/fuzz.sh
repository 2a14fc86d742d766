#!/usr/bin/env bash
# Builds the checkpoint-reader fuzz target with clang (libFuzzer + ASan +
# UBSan) and runs it for a bounded time over the committed seed corpus
# (native/fuzz/corpus). New inputs go to build-fuzz/corpus, never into git.
#   scripts/fuzz.sh [seconds=60]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-60}"
command -v clang++ >/dev/null || { echo "fuzz: clang++ is not installed (apt-get install -y clang libclang-rt-14-dev)"; exit 1; }
mkdir -p build-fuzz/corpus
clang++ -std=c++17 -O1 -g -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
  -Inative/engine native/fuzz/checkpoint_fuzz.cpp native/engine/checkpoint_reader.cpp \
  native/engine/json_reader.cpp native/engine/sha256.cpp -o build-fuzz/checkpoint_fuzz
./build-fuzz/checkpoint_fuzz -max_total_time="$seconds" -timeout=5 -max_len=65536 -print_final_stats=1 \
  build-fuzz/corpus native/fuzz/corpus
