// Loading NVML: dlopen of the library, dlsym of the entry points (the newest
// variant present), nvmlInit, and the reset and exit-time shutdown. See
// nvml.hpp for the contract and nvml_library.hpp for the locking.
#include <dlfcn.h>

#include <cstdlib>
#include <mutex>
#include <shared_mutex>

#include "nvml_library.hpp"

namespace bp {

namespace nvml_library {

// Leaked on purpose: a monitor thread still reading while static destructors
// run at exit must find a live mutex, never a destroyed one.
State& state() {
  static State* s = new State();
  return *s;
}

std::string errorText(const Api& api, nvmlReturn_t rc) {
  if (api.errorString) {
    const char* s = api.errorString(rc);
    if (s && *s) return s;
  }
  return "NVML error " + std::to_string(rc);
}

}  // namespace nvml_library

using namespace nvml_library;

namespace {

// Shuts NVML down and unloads it. Caller holds the lock exclusively.
void unloadLocked(State& s, bool closeLibrary) {
  if (s.available && s.api.shutdown) s.api.shutdown();
  if (s.handle && closeLibrary) dlclose(s.handle);
  s.handle = nullptr;
  s.api = Api{};
  s.available = false;
}

// Exit-time shutdown (registered with atexit on the first init). It leaves the
// library mapped (unloading during exit buys nothing and other exit handlers
// may still run code from it) and keeps `attempted` set, so a late read from a
// thread that outlived main() gets "unavailable" rather than a re-init.
void shutdownAtExit() {
  State& s = state();
  std::unique_lock<std::shared_mutex> lock(s.mu);
  if (!s.attempted) return;
  unloadLocked(s, /*closeLibrary=*/false);
  s.reason = "NVML was shut down at process exit";
}

template <class F>
F sym(void* handle, const char* name) {
  return reinterpret_cast<F>(dlsym(handle, name));
}

// Picks the newest variant present; records which one in *chosen when given.
template <class F>
F symFirst(void* handle, std::initializer_list<const char*> names, const char** chosen = nullptr) {
  for (const char* n : names) {
    if (F f = sym<F>(handle, n)) {
      if (chosen) *chosen = n;
      return f;
    }
  }
  return nullptr;
}

// Loads and initialises; caller holds the lock exclusively.
void initLocked(State& s, const std::string& libraryOverride) {
  s.attempted = true;
  s.available = false;
  s.reason.clear();
  if (!libraryOverride.empty()) {
    s.libraryPath = libraryOverride;
  } else if (const char* env = std::getenv(kLibraryEnvVar); env && *env) {
    s.libraryPath = env;
  } else {
    s.libraryPath = kDefaultLibrary;
  }

  dlerror();  // clear any stale error so the message below is ours
  s.handle = dlopen(s.libraryPath.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!s.handle) {
    const char* err = dlerror();
    s.reason = s.libraryPath + " not found: " + (err ? err : "dlopen failed");
    return;
  }

  Api a;
  void* h = s.handle;
  a.init = symFirst<FnVoid>(h, {"nvmlInit_v2", "nvmlInit"}, &a.initName);
  a.getCount = symFirst<FnCount>(h, {"nvmlDeviceGetCount_v2", "nvmlDeviceGetCount"});
  a.getHandle = symFirst<FnHandle>(h, {"nvmlDeviceGetHandleByIndex_v2", "nvmlDeviceGetHandleByIndex"});
  const char* missing = !a.init        ? "nvmlInit_v2"
                        : !a.getCount  ? "nvmlDeviceGetCount_v2"
                        : !a.getHandle ? "nvmlDeviceGetHandleByIndex_v2"
                                       : nullptr;
  if (missing) {
    s.reason = s.libraryPath + " lacks " + missing + " (and its older variant)";
    dlclose(s.handle);
    s.handle = nullptr;
    return;
  }
  a.shutdown = sym<FnVoid>(h, "nvmlShutdown");
  a.errorString = sym<FnErrorString>(h, "nvmlErrorString");
  a.getName = sym<FnString>(h, "nvmlDeviceGetName");
  a.getUuid = sym<FnString>(h, "nvmlDeviceGetUUID");
  a.getTemperature = sym<FnUintBySensor>(h, "nvmlDeviceGetTemperature");
  a.getTemperatureThreshold = sym<FnUintBySensor>(h, "nvmlDeviceGetTemperatureThreshold");
  a.getClockInfo = sym<FnUintBySensor>(h, "nvmlDeviceGetClockInfo");
  a.getPowerUsage = sym<FnUint>(h, "nvmlDeviceGetPowerUsage");
  a.getPowerLimit = sym<FnUint>(h, "nvmlDeviceGetEnforcedPowerLimit");
  a.getPowerLimitFallback = sym<FnUint>(h, "nvmlDeviceGetPowerManagementLimit");
  a.getFanSpeed = sym<FnUint>(h, "nvmlDeviceGetFanSpeed");
  a.getUtilization = sym<FnUtil>(h, "nvmlDeviceGetUtilizationRates");
  a.getMemoryV2 = sym<FnMemV2>(h, "nvmlDeviceGetMemoryInfo_v2");
  a.getMemoryV1 = sym<FnMemV1>(h, "nvmlDeviceGetMemoryInfo");
  if ((a.getProcesses = sym<FnProcs>(h, "nvmlDeviceGetComputeRunningProcesses_v3"))) {
    a.processesVersion = 3;
  } else if ((a.getProcesses = sym<FnProcs>(h, "nvmlDeviceGetComputeRunningProcesses_v2"))) {
    a.processesVersion = 2;
  } else if ((a.getProcesses = sym<FnProcs>(h, "nvmlDeviceGetComputeRunningProcesses"))) {
    a.processesVersion = 1;
  }
  a.getClockReasons = symFirst<FnUll>(
      h, {"nvmlDeviceGetCurrentClocksEventReasons", "nvmlDeviceGetCurrentClocksThrottleReasons"});

  nvmlReturn_t rc = a.init();
  if (rc != NVML_SUCCESS) {
    s.reason = std::string(a.initName) + " failed: " + errorText(a, rc);
    dlclose(s.handle);
    s.handle = nullptr;
    return;
  }
  s.api = a;
  s.available = true;
  if (!s.exitHandlerRegistered) {
    // atexit (not a static object's destructor) so the order relative to
    // other statics does not matter; inside a dlopen'ed addon glibc runs it
    // when the addon is unloaded.
    s.exitHandlerRegistered = std::atexit(shutdownAtExit) == 0;
  }
}

NvmlAvailability snapshot(const State& s) { return {s.available, s.reason, s.libraryPath}; }

}  // namespace

NvmlAvailability nvmlEnsureInit(const std::string& libraryOverride) {
  State& s = state();
  {
    std::shared_lock<std::shared_mutex> lock(s.mu);
    if (s.attempted) return snapshot(s);
  }
  std::unique_lock<std::shared_mutex> lock(s.mu);
  if (!s.attempted) initLocked(s, libraryOverride);  // another thread may have won the race
  return snapshot(s);
}

void nvmlResetState() {
  State& s = state();
  std::unique_lock<std::shared_mutex> lock(s.mu);
  unloadLocked(s, /*closeLibrary=*/true);
  s.attempted = false;
  s.reason.clear();
  s.libraryPath.clear();
}

int nvmlDeviceCount() {
  State& s = state();
  // A reset may slip in between init and the shared lock: then init again.
  for (int attempt = 0; attempt < 3; ++attempt) {
    nvmlEnsureInit();
    std::shared_lock<std::shared_mutex> lock(s.mu);
    if (!s.attempted) continue;
    if (!s.available) return 0;
    unsigned int n = 0;
    if (s.api.getCount(&n) != NVML_SUCCESS) return 0;
    return static_cast<int>(n);
  }
  return 0;
}

}  // namespace bp
