// NVML (NVIDIA Management Library) loaded at run time through dlopen, so the
// engine links and runs on machines without an NVIDIA driver: there, NVML is
// simply "unavailable" with a reason, and nothing else changes.
//
// We declare the few NVML types and constants we use ourselves instead of
// including nvml.h: the engine must build without the CUDA toolkit, and the
// layouts below are the stable ABI of libnvidia-ml.so.1. They live in
// bp::nvml so they never collide with a real nvml.h included elsewhere.
#pragma once
#include <optional>
#include <string>
#include <vector>

namespace bp {

namespace nvml {

using nvmlDevice_t = struct nvmlDevice_st*;  // opaque handle owned by the driver
using nvmlReturn_t = int;

struct nvmlMemory_t {  // nvmlDeviceGetMemoryInfo (v1)
  unsigned long long total, free, used;
};
struct nvmlMemory_v2_t {  // nvmlDeviceGetMemoryInfo_v2: caller must set version
  unsigned int version;
  unsigned long long total, reserved, free, used;
};
// nvmlDeviceGetComputeRunningProcesses_v2/_v3 layout.
struct nvmlProcessInfo_t {
  unsigned int pid;
  unsigned long long usedGpuMemory;  // bytes, or kValueNotAvailable
  unsigned int gpuInstanceId, computeInstanceId;
};
// nvmlDeviceGetComputeRunningProcesses (v1) layout.
struct nvmlProcessInfo_v1_t {
  unsigned int pid;
  unsigned long long usedGpuMemory;
};
struct nvmlUtilization_t {
  unsigned int gpu, memory;  // percent
};

constexpr nvmlReturn_t NVML_SUCCESS = 0;
constexpr nvmlReturn_t NVML_ERROR_UNINITIALIZED = 1;
constexpr nvmlReturn_t NVML_ERROR_INVALID_ARGUMENT = 2;
constexpr nvmlReturn_t NVML_ERROR_NOT_SUPPORTED = 3;
constexpr nvmlReturn_t NVML_ERROR_NO_PERMISSION = 4;
constexpr nvmlReturn_t NVML_ERROR_INSUFFICIENT_SIZE = 7;
constexpr nvmlReturn_t NVML_ERROR_FUNCTION_NOT_FOUND = 13;
constexpr nvmlReturn_t NVML_ERROR_GPU_IS_LOST = 15;
constexpr nvmlReturn_t NVML_ERROR_ARGUMENT_VERSION_MISMATCH = 25;
constexpr nvmlReturn_t NVML_ERROR_UNKNOWN = 999;

constexpr int NVML_TEMPERATURE_GPU = 0;
constexpr int NVML_TEMPERATURE_THRESHOLD_SHUTDOWN = 0;
constexpr int NVML_TEMPERATURE_THRESHOLD_SLOWDOWN = 1;
constexpr int NVML_CLOCK_SM = 1;
constexpr int NVML_CLOCK_MEM = 2;

constexpr unsigned long long nvmlClocksEventReasonGpuIdle = 0x1ULL;
constexpr unsigned long long nvmlClocksEventReasonApplicationsClocksSetting = 0x2ULL;
constexpr unsigned long long nvmlClocksEventReasonSwPowerCap = 0x4ULL;
constexpr unsigned long long nvmlClocksEventReasonHwSlowdown = 0x8ULL;
constexpr unsigned long long nvmlClocksEventReasonSyncBoost = 0x10ULL;
constexpr unsigned long long nvmlClocksEventReasonSwThermalSlowdown = 0x20ULL;
constexpr unsigned long long nvmlClocksEventReasonHwThermalSlowdown = 0x40ULL;
constexpr unsigned long long nvmlClocksEventReasonHwPowerBrakeSlowdown = 0x80ULL;
constexpr unsigned long long nvmlClocksEventReasonDisplayClockSetting = 0x100ULL;

// NVML_STRUCT_VERSION(Memory, 2): the struct size with the version in the top byte.
constexpr unsigned int kNvmlMemoryV2Version = (unsigned)(sizeof(nvmlMemory_v2_t) | (2u << 24));
// usedGpuMemory when the driver cannot attribute memory to a process.
constexpr unsigned long long kValueNotAvailable = ~0ULL;

constexpr int kNameBufferSize = 96;  // NVML_DEVICE_NAME_V2_BUFFER_SIZE
constexpr int kUuidBufferSize = 96;  // NVML_DEVICE_UUID_V2_BUFFER_SIZE

// The default library: always the versioned SONAME (the unversioned
// libnvidia-ml.so only exists where the driver's development files are).
constexpr const char* kDefaultLibrary = "libnvidia-ml.so.1";
// Environment variable overriding the library path (tests point it at a stub).
constexpr const char* kLibraryEnvVar = "BACKPROP_NVML_LIBRARY";

}  // namespace nvml

template <class T>
using Opt = std::optional<T>;

struct GpuProcess {
  unsigned pid = 0;
  double usedMemoryMb = 0;  // MiB; NaN when the driver cannot attribute memory
};

// One sample of one device. Every field is optional: a query the card or
// driver does not support leaves its field empty and never fails the others.
struct GpuReading {
  bool ok = true;     // false: the read failed as a whole (error says why)
  std::string error;  // empty when ok
  int deviceIndex = 0;
  Opt<std::string> name, uuid;
  Opt<double> temperatureC, temperatureMaxC /* shutdown threshold */, temperatureSlowdownC;
  Opt<double> vramTotalGb, vramUsedGb, vramFreeGb;  // GiB = bytes / 2^30
  Opt<double> powerDrawW, powerLimitW;               // watts
  Opt<double> gpuUtilization, memoryUtilization;     // percent
  Opt<double> smClockMhz, memClockMhz, fanPercent;
  // Decoded clock event (throttle) reasons: "gpu_idle", "applications_clocks_setting",
  // "sw_power_cap", "hw_slowdown", "sync_boost", "sw_thermal_slowdown",
  // "hw_thermal_slowdown", "hw_power_brake_slowdown", "display_clock_setting".
  // Bits NVML may add later are not listed.
  Opt<std::vector<std::string>> throttleReasons;
  Opt<std::vector<GpuProcess>> processes;
  double timestampMs = 0;  // ms since the Unix epoch, when the sample was read
};

struct NvmlAvailability {
  bool available = false;
  std::string reason;       // why not available; empty when available
  std::string libraryPath;  // the path passed to dlopen
};

// Loads and initialises NVML once per process (thread-safe). The result,
// success or failure, is cached until nvmlResetState(); the override (or the
// BACKPROP_NVML_LIBRARY environment variable, or "libnvidia-ml.so.1", in that
// order) is only consulted by the call that actually initialises.
NvmlAvailability nvmlEnsureInit(const std::string& libraryOverride = "");

// Shuts NVML down, unloads the library and forgets the cached result, so the
// next call loads and initialises again. Waits for reads in flight.
void nvmlResetState();

// Number of devices; 0 when NVML is unavailable or the count query fails.
int nvmlDeviceCount();

// Reads one device, initialising NVML first if no one has (libraryOverride
// is used only then, as in nvmlEnsureInit). ok=false with a reason when NVML
// is unavailable, the device handle cannot be obtained, the GPU is lost, or
// every metric query failed with a real error; a query that is merely
// unsupported (or not permitted) only leaves its field empty.
// Safe to call from several threads at once.
GpuReading nvmlReadDevice(int index, const std::string& libraryOverride = "");

// Decodes a clock event reason bit mask into the names listed above.
std::vector<std::string> decodeThrottleReasons(unsigned long long mask);

// Wall clock in milliseconds since the Unix epoch (microsecond resolution).
double wallClockMs();

}  // namespace bp
