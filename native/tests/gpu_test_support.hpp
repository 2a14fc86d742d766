// What the GPU tests share: the stub libnvidia-ml.so.1 built from
// native/stub-nvml and its scripts, hand-made readings, and a sample
// collector for the monitor thread.
//
// The stub variants are looked up in $BP_STUB_NVML_DIR, else in
// <directory of this executable>/stub-nvml (where native/stub-nvml/CMakeLists.txt
// puts them when added to the main build): <dir>/{modern,nov3,legacy}/libnvidia-ml.so.1.
#pragma once
#include <dirent.h>
#include <dlfcn.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <mutex>
#include <string>
#include <vector>

#include "gpu_condition.hpp"
#include "gpu_monitor.hpp"
#include "nvml.hpp"
#include "testing.hpp"

namespace gputest {

using namespace bp;

inline std::string stubDir() {
  if (const char* env = std::getenv("BP_STUB_NVML_DIR"); env && *env) return env;
  char buf[4096];
  ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n <= 0) return "";
  std::string exe(buf, static_cast<std::size_t>(n));
  return exe.substr(0, exe.rfind('/')) + "/stub-nvml";
}

inline std::string stubPath(const char* variant) {
  std::string p = stubDir() + "/" + variant + "/libnvidia-ml.so.1";
  if (access(p.c_str(), R_OK) != 0)
    throw bptest::Failure("stub NVML not found at " + p +
                          " (build native/stub-nvml, or set BP_STUB_NVML_DIR to its stub-nvml output folder)");
  return p;
}

inline std::string scriptPath() { return "/tmp/bp_gpu_test_" + std::to_string(getpid()) + ".nvml"; }

// Atomic replace (write + rename), so the stub never reads a half-written script.
inline void writeScript(const std::string& text) {
  std::string tmp = scriptPath() + ".tmp";
  {
    std::ofstream f(tmp);
    f << text;
  }
  CHECK(std::rename(tmp.c_str(), scriptPath().c_str()) == 0);
  setenv("BACKPROP_STUB_NVML_SCRIPT", scriptPath().c_str(), 1);
}

// Removes this process's script file when the test executable exits.
struct ScriptCleanup {
  ~ScriptCleanup() {
    std::remove(scriptPath().c_str());
    std::remove((scriptPath() + ".tmp").c_str());
  }
};
inline ScriptCleanup scriptCleanup;

inline const char* const kTwoDevices =
    "init=ok   # comment\n"
    "devices=2\n"
    "0.name=Stub H200\n"
    "0.uuid=GPU-0000\n"
    "0.temp=45\n"
    "0.temp_shutdown=95\n"
    "0.temp_slowdown=90\n"
    "0.mem_total_mb=143771\n"
    "0.mem_used_mb=1024\n"
    "0.power_mw=120000\n"
    "0.power_limit_mw=700000\n"
    "0.util_gpu=30\n"
    "0.util_mem=10\n"
    "0.clock_sm=1980\n"
    "0.clock_mem=2619\n"
    "0.fan=NA\n"
    "0.throttle=0x44\n"
    "0.procs=1234:2048,5678:512\n"
    "1.name=Stub Second\n"
    "1.temp=60\n"
    "1.mem_total_mb=1024\n"
    "1.mem_used_mb=512\n";

// Fresh NVML state pointing nowhere in particular; every NVML test starts here.
inline void freshNvml() {
  nvmlResetState();
  unsetenv(nvml::kLibraryEnvVar);
}

// Reads a stub test hook from the already-loaded stub (RTLD_NOLOAD: never loads it).
inline unsigned long stubCalls(const std::string& path, const char* fn) {
  void* h = dlopen(path.c_str(), RTLD_NOW | RTLD_NOLOAD);
  if (!h) throw bptest::Failure("stub not loaded: " + path);
  auto f = reinterpret_cast<unsigned long (*)(const char*)>(dlsym(h, "bpStubNvmlCallCount"));
  unsigned long n = f ? f(fn) : 0;
  dlclose(h);
  return n;
}

inline bool stubLoaded(const std::string& path) {
  void* h = dlopen(path.c_str(), RTLD_NOW | RTLD_NOLOAD);
  if (h) dlclose(h);
  return h != nullptr;
}

inline bool contains(const std::string& s, const std::string& sub) { return s.find(sub) != std::string::npos; }

inline GpuReading reading(Opt<double> temp, Opt<double> vramPct, Opt<double> powerPct) {
  GpuReading r;
  r.temperatureC = temp;
  if (vramPct) {
    r.vramTotalGb = 80;
    r.vramUsedGb = *vramPct / 100.0 * 80;
  }
  if (powerPct) {
    r.powerLimitW = 700;
    r.powerDrawW = *powerPct / 100.0 * 700;
  }
  return r;
}

inline GpuCondition cond(const GpuReading& r, const GpuSafetyConfig& c = {}) { return evaluateGpu(r, c).condition; }

inline int threadCount() {
  int n = 0;
  if (DIR* d = opendir("/proc/self/task")) {
    while (dirent* e = readdir(d))
      if (e->d_name[0] != '.') ++n;
    closedir(d);
  }
  return n;
}

// Collects samples from a monitor's sink (called on the sampling thread).
struct Collector {
  std::mutex mu;
  std::condition_variable cv;
  std::vector<GpuSample> samples;

  GpuMonitorThread::Sink sink() {
    return [this](const GpuSample& s) {
      std::lock_guard<std::mutex> l(mu);
      samples.push_back(s);
      cv.notify_all();
    };
  }
  std::size_t size() {
    std::lock_guard<std::mutex> l(mu);
    return samples.size();
  }
  bool waitFor(std::size_t n, int timeoutMs = 5000) {
    std::unique_lock<std::mutex> l(mu);
    return cv.wait_for(l, std::chrono::milliseconds(timeoutMs), [&] { return samples.size() >= n; });
  }
  std::vector<GpuSample> copy() {
    std::lock_guard<std::mutex> l(mu);
    return samples;
  }
};

inline double msSince(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t).count();
}

}  // namespace gputest
