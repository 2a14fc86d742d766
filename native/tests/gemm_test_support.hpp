// Helpers the engine's GEMM and thread tests share: the kernel family in force, restored on scope
// exit even when a CHECK throws, every family this CPU can run, the process's thread count, and
// waiting for a condition with a time limit.
#pragma once
#include <dirent.h>

#include <algorithm>
#include <chrono>
#include <thread>
#include <string>
#include <vector>

#include "gemm.hpp"

namespace bptest {

// Restores the dispatch choice even when a CHECK throws.
struct ForceGeneric {
  bool previous;
  explicit ForceGeneric(bool force) : previous(bp::gemmForceGeneric(force)) {}
  ~ForceGeneric() { bp::gemmForceGeneric(previous); }
};

struct CapKernel {
  bp::GemmKernelCap previous;
  explicit CapKernel(bp::GemmKernelCap cap) : previous(bp::gemmCapKernel(cap)) {}
  ~CapKernel() { bp::gemmCapKernel(previous); }
};

// Every kernel family this CPU can run, widest first (each cap that gives a different kernel).
inline std::vector<bp::GemmKernelCap> familiesHere() {
  std::vector<bp::GemmKernelCap> caps;
  std::vector<std::string> names;
  for (bp::GemmKernelCap cap : {bp::GemmKernelCap::Best, bp::GemmKernelCap::Avx2, bp::GemmKernelCap::Generic}) {
    CapKernel c(cap);
    const std::string name = bp::gemmKernelName();
    if (std::find(names.begin(), names.end(), name) == names.end()) {
      names.push_back(name);
      caps.push_back(cap);
    }
  }
  return caps;
}

// Threads of this process (/proc/self/task), -1 where it cannot be read.
inline int taskCount() {
  DIR* d = opendir("/proc/self/task");
  if (!d) return -1;
  int n = 0;
  while (dirent* e = readdir(d))
    if (e->d_name[0] != '.') ++n;
  closedir(d);
  return n;
}

// Polls pred every 5 ms; false if it still fails after limit.
template <class Pred>
bool waitUntil(Pred pred, std::chrono::milliseconds limit) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (!pred()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return true;
}

}  // namespace bptest
