// Reading NVML: one sample of one device (every metric query independent,
// so an unsupported one only leaves its field empty), the clock event reason
// names, and the wall clock samples are stamped with. See nvml.hpp for the
// contract and nvml_library.hpp for the locking.
#include <chrono>
#include <cmath>
#include <limits>
#include <mutex>
#include <shared_mutex>

#include "nvml_library.hpp"

namespace bp {

using namespace nvml_library;

namespace {

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
