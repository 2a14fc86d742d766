// Runtime NVML loader and reader. See nvml.hpp for the contract.
//
// Locking: one std::shared_mutex guards the loaded library. Reads hold it
// shared (NVML itself is thread-safe, so monitor threads read in parallel);
// init, reset and the exit-time shutdown hold it exclusively, so the library
// is never unloaded under a read in flight.
#include "nvml.hpp"

#include <dlfcn.h>

#include <chrono>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <mutex>
#include <shared_mutex>

namespace bp {

using namespace nvml;

namespace {

// Function pointer types of the NVML entry points we use.
using FnVoid = nvmlReturn_t (*)();
using FnErrorString = const char* (*)(nvmlReturn_t);
using FnCount = nvmlReturn_t (*)(unsigned int*);
using FnHandle = nvmlReturn_t (*)(unsigned int, nvmlDevice_t*);
using FnString = nvmlReturn_t (*)(nvmlDevice_t, char*, unsigned int);
using FnUintBySensor = nvmlReturn_t (*)(nvmlDevice_t, int, unsigned int*);
using FnUint = nvmlReturn_t (*)(nvmlDevice_t, unsigned int*);
using FnUll = nvmlReturn_t (*)(nvmlDevice_t, unsigned long long*);
using FnMemV1 = nvmlReturn_t (*)(nvmlDevice_t, nvmlMemory_t*);
using FnMemV2 = nvmlReturn_t (*)(nvmlDevice_t, nvmlMemory_v2_t*);
using FnUtil = nvmlReturn_t (*)(nvmlDevice_t, nvmlUtilization_t*);
using FnProcs = nvmlReturn_t (*)(nvmlDevice_t, unsigned int*, void*);  // layout per version

struct Api {
  FnVoid init = nullptr;
  const char* initName = "";
  FnVoid shutdown = nullptr;
  FnErrorString errorString = nullptr;
  FnCount getCount = nullptr;
  FnHandle getHandle = nullptr;
  FnString getName = nullptr, getUuid = nullptr;
  FnUintBySensor getTemperature = nullptr, getTemperatureThreshold = nullptr, getClockInfo = nullptr;
  FnUint getPowerUsage = nullptr, getPowerLimit = nullptr, getPowerLimitFallback = nullptr;
  FnUint getFanSpeed = nullptr;
  FnUtil getUtilization = nullptr;
  FnMemV2 getMemoryV2 = nullptr;
  FnMemV1 getMemoryV1 = nullptr;
  FnProcs getProcesses = nullptr;
  int processesVersion = 0;  // 1: nvmlProcessInfo_v1_t layout; 2/3: nvmlProcessInfo_t
  FnUll getClockReasons = nullptr;
};

struct State {
  std::shared_mutex mu;
  bool attempted = false;  // an init ran (its result is cached below)
  bool available = false;
  std::string reason, libraryPath;
  void* handle = nullptr;
  Api api;
  bool exitHandlerRegistered = false;
};

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

// Collects per-query outcomes to decide whether the reading failed as a whole.
struct QueryLog {
  explicit QueryLog(const Api& a) : api(a) {}
  const Api& api;
  bool gotMetric = false;
  bool gpuLost = false;
  std::string firstHardError;

  // True when the query succeeded. "Not supported"-like results only leave the
  // field empty; anything else is remembered as a real error.
  bool ok(nvmlReturn_t rc, const char* fn, bool metric = true) {
    if (rc == NVML_SUCCESS) {
      if (metric) gotMetric = true;
      return true;
    }
    if (rc == NVML_ERROR_NOT_SUPPORTED || rc == NVML_ERROR_NO_PERMISSION ||
        rc == NVML_ERROR_FUNCTION_NOT_FOUND)
      return false;
    if (rc == NVML_ERROR_GPU_IS_LOST) gpuLost = true;
    if (firstHardError.empty()) firstHardError = std::string(fn) + " failed: " + errorText(api, rc);
    return false;
  }
};

constexpr double kGiB = 1024.0 * 1024.0 * 1024.0;
constexpr double kMiB = 1024.0 * 1024.0;

void readMemory(const Api& a, nvmlDevice_t dev, QueryLog& log, GpuReading& r) {
  if (a.getMemoryV2) {
    nvmlMemory_v2_t m{};
    m.version = kNvmlMemoryV2Version;
    nvmlReturn_t rc = a.getMemoryV2(dev, &m);
    // A driver may export the symbol yet reject the version: fall back to v1.
    if (rc == NVML_SUCCESS || !a.getMemoryV1) {
      if (log.ok(rc, "nvmlDeviceGetMemoryInfo_v2")) {
        r.vramTotalGb = m.total / kGiB;
        r.vramUsedGb = m.used / kGiB;
        r.vramFreeGb = m.free / kGiB;
      }
      return;
    }
  }
  if (a.getMemoryV1) {
    nvmlMemory_t m{};
    if (log.ok(a.getMemoryV1(dev, &m), "nvmlDeviceGetMemoryInfo")) {
      r.vramTotalGb = m.total / kGiB;
      r.vramUsedGb = m.used / kGiB;
      r.vramFreeGb = m.free / kGiB;
    }
  }
}

template <class Info>
bool readProcessList(const Api& a, nvmlDevice_t dev, QueryLog& log, std::vector<GpuProcess>& out) {
  static const char* names[] = {"", "nvmlDeviceGetComputeRunningProcesses",
                                "nvmlDeviceGetComputeRunningProcesses_v2",
                                "nvmlDeviceGetComputeRunningProcesses_v3"};
  const char* fn = names[a.processesVersion];
  std::vector<Info> infos;
  unsigned int count = 0;
  nvmlReturn_t rc = a.getProcesses(dev, &count, nullptr);
  // Processes may start between the size query and the read: retry a few
  // times with some slack rather than report a spurious failure.
  for (int attempt = 0; rc == NVML_ERROR_INSUFFICIENT_SIZE && attempt < 4; ++attempt) {
    infos.assign(count + 8, Info{});
    count = static_cast<unsigned int>(infos.size());
    rc = a.getProcesses(dev, &count, infos.data());
  }
  if (!log.ok(rc, fn)) return false;
  out.clear();
  for (unsigned int i = 0; i < count && i < infos.size(); ++i) {
    double mb = infos[i].usedGpuMemory == kValueNotAvailable
                    ? std::numeric_limits<double>::quiet_NaN()
                    : infos[i].usedGpuMemory / kMiB;
    out.push_back({infos[i].pid, mb});
  }
  return true;
}

GpuReading readLocked(const State& s, int index) {
  GpuReading r;
  r.deviceIndex = index;
  r.timestampMs = wallClockMs();
  if (!s.available) {
    r.ok = false;
    r.error = s.reason.empty() ? "NVML is not available" : s.reason;
    return r;
  }
  const Api& a = s.api;
  nvmlDevice_t dev = nullptr;
  if (index < 0) {
    r.ok = false;
    r.error = "invalid device index " + std::to_string(index);
    return r;
  }
  if (nvmlReturn_t rc = a.getHandle(static_cast<unsigned>(index), &dev); rc != NVML_SUCCESS) {
    r.ok = false;
    r.error = "device " + std::to_string(index) + ": nvmlDeviceGetHandleByIndex failed: " + errorText(a, rc);
    return r;
  }

  QueryLog log(a);
  char buf[kNameBufferSize > kUuidBufferSize ? kNameBufferSize : kUuidBufferSize];
  if (a.getName) {
    buf[0] = 0;
    if (log.ok(a.getName(dev, buf, kNameBufferSize), "nvmlDeviceGetName", false)) {
      buf[kNameBufferSize - 1] = 0;
      r.name = std::string(buf);
    }
  }
  if (a.getUuid) {
    buf[0] = 0;
    if (log.ok(a.getUuid(dev, buf, kUuidBufferSize), "nvmlDeviceGetUUID", false)) {
      buf[kUuidBufferSize - 1] = 0;
      r.uuid = std::string(buf);
    }
  }
  unsigned int v = 0;
  if (a.getTemperature && log.ok(a.getTemperature(dev, NVML_TEMPERATURE_GPU, &v), "nvmlDeviceGetTemperature"))
    r.temperatureC = v;
  if (a.getTemperatureThreshold) {
    if (log.ok(a.getTemperatureThreshold(dev, NVML_TEMPERATURE_THRESHOLD_SHUTDOWN, &v),
               "nvmlDeviceGetTemperatureThreshold"))
      r.temperatureMaxC = v;
    if (log.ok(a.getTemperatureThreshold(dev, NVML_TEMPERATURE_THRESHOLD_SLOWDOWN, &v),
               "nvmlDeviceGetTemperatureThreshold"))
      r.temperatureSlowdownC = v;
  }
  readMemory(a, dev, log, r);
  if (a.getPowerUsage && log.ok(a.getPowerUsage(dev, &v), "nvmlDeviceGetPowerUsage")) r.powerDrawW = v / 1000.0;
  if (a.getPowerLimit && log.ok(a.getPowerLimit(dev, &v), "nvmlDeviceGetEnforcedPowerLimit")) {
    r.powerLimitW = v / 1000.0;
  } else if (a.getPowerLimitFallback &&
             log.ok(a.getPowerLimitFallback(dev, &v), "nvmlDeviceGetPowerManagementLimit")) {
    r.powerLimitW = v / 1000.0;
  }
  if (a.getUtilization) {
    nvmlUtilization_t u{};
    if (log.ok(a.getUtilization(dev, &u), "nvmlDeviceGetUtilizationRates")) {
      r.gpuUtilization = u.gpu;
      r.memoryUtilization = u.memory;
    }
  }
  if (a.getClockInfo) {
    if (log.ok(a.getClockInfo(dev, NVML_CLOCK_SM, &v), "nvmlDeviceGetClockInfo")) r.smClockMhz = v;
    if (log.ok(a.getClockInfo(dev, NVML_CLOCK_MEM, &v), "nvmlDeviceGetClockInfo")) r.memClockMhz = v;
  }
  if (a.getFanSpeed && log.ok(a.getFanSpeed(dev, &v), "nvmlDeviceGetFanSpeed")) r.fanPercent = v;
  if (a.getClockReasons) {
    unsigned long long mask = 0;
    if (log.ok(a.getClockReasons(dev, &mask), "nvmlDeviceGetCurrentClocksEventReasons"))
      r.throttleReasons = decodeThrottleReasons(mask);
  }
  if (a.getProcesses) {
    std::vector<GpuProcess> procs;
    bool got = a.processesVersion == 1 ? readProcessList<nvmlProcessInfo_v1_t>(a, dev, log, procs)
                                       : readProcessList<nvmlProcessInfo_t>(a, dev, log, procs);
    if (got) r.processes = std::move(procs);
  }

  // A lost GPU, or a device where every metric query failed with a real
  // error, is a failed read: a half-empty "ok" reading would look healthy.
  if (log.gpuLost || (!log.gotMetric && !log.firstHardError.empty())) {
    GpuReading failed;
    failed.ok = false;
    failed.deviceIndex = index;
    failed.timestampMs = r.timestampMs;
    failed.name = r.name;
    failed.uuid = r.uuid;
    failed.error = "device " + std::to_string(index) + ": " + log.firstHardError;
    return failed;
  }
  return r;
}

}  // namespace

double wallClockMs() {
  using namespace std::chrono;
  return duration_cast<microseconds>(system_clock::now().time_since_epoch()).count() / 1000.0;
}

std::vector<std::string> decodeThrottleReasons(unsigned long long mask) {
  static const struct {
    unsigned long long bit;
    const char* name;
  } kReasons[] = {
      {nvmlClocksEventReasonGpuIdle, "gpu_idle"},
      {nvmlClocksEventReasonApplicationsClocksSetting, "applications_clocks_setting"},
      {nvmlClocksEventReasonSwPowerCap, "sw_power_cap"},
      {nvmlClocksEventReasonHwSlowdown, "hw_slowdown"},
      {nvmlClocksEventReasonSyncBoost, "sync_boost"},
      {nvmlClocksEventReasonSwThermalSlowdown, "sw_thermal_slowdown"},
      {nvmlClocksEventReasonHwThermalSlowdown, "hw_thermal_slowdown"},
      {nvmlClocksEventReasonHwPowerBrakeSlowdown, "hw_power_brake_slowdown"},
      {nvmlClocksEventReasonDisplayClockSetting, "display_clock_setting"},
  };
  std::vector<std::string> out;
  for (const auto& r : kReasons)
    if (mask & r.bit) out.emplace_back(r.name);
  return out;
}

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

GpuReading nvmlReadDevice(int index, const std::string& libraryOverride) {
  State& s = state();
  // A reset may slip in between init and the shared lock: then init again.
  for (int attempt = 0; attempt < 3; ++attempt) {
    nvmlEnsureInit(libraryOverride);
    std::shared_lock<std::shared_mutex> lock(s.mu);
    if (!s.attempted) continue;
    return readLocked(s, index);
  }
  GpuReading r;
  r.ok = false;
  r.deviceIndex = index;
  r.timestampMs = wallClockMs();
  r.error = "NVML was reset repeatedly during the read";
  return r;
}

}  // namespace bp
