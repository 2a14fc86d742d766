// GPU health monitoring: condition evaluation, the NVML loader (against the
// stub libnvidia-ml.so.1 built from native/stub-nvml) and the sampling thread.
//
// The stub variants are looked up in $BP_STUB_NVML_DIR, else in
// <directory of this executable>/stub-nvml (where native/stub-nvml/CMakeLists.txt
// puts them when added to the main build): <dir>/{modern,nov3,legacy}/libnvidia-ml.so.1.
#include <dirent.h>
#include <dlfcn.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <mutex>
#include <random>
#include <thread>

#include "gpu_condition.hpp"
#include "gpu_monitor.hpp"
#include "nvml.hpp"
#include "testing.hpp"

using namespace bp;

namespace {

// ---------------------------------------------------------------- helpers

std::string stubDir() {
  if (const char* env = std::getenv("BP_STUB_NVML_DIR"); env && *env) return env;
  char buf[4096];
  ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n <= 0) return "";
  std::string exe(buf, static_cast<std::size_t>(n));
  return exe.substr(0, exe.rfind('/')) + "/stub-nvml";
}

std::string stubPath(const char* variant) {
  std::string p = stubDir() + "/" + variant + "/libnvidia-ml.so.1";
  if (access(p.c_str(), R_OK) != 0)
    throw bptest::Failure("stub NVML not found at " + p +
                          " (build native/stub-nvml, or set BP_STUB_NVML_DIR to its stub-nvml output folder)");
  return p;
}

std::string scriptPath() { return "/tmp/bp_gpu_test_" + std::to_string(getpid()) + ".nvml"; }

// Atomic replace (write + rename), so the stub never reads a half-written script.
void writeScript(const std::string& text) {
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
} scriptCleanup;

const char* kTwoDevices =
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
void freshNvml() {
  nvmlResetState();
  unsetenv(nvml::kLibraryEnvVar);
}

// Reads a stub test hook from the already-loaded stub (RTLD_NOLOAD: never loads it).
unsigned long stubCalls(const std::string& path, const char* fn) {
  void* h = dlopen(path.c_str(), RTLD_NOW | RTLD_NOLOAD);
  if (!h) throw bptest::Failure("stub not loaded: " + path);
  auto f = reinterpret_cast<unsigned long (*)(const char*)>(dlsym(h, "bpStubNvmlCallCount"));
  unsigned long n = f ? f(fn) : 0;
  dlclose(h);
  return n;
}

bool stubLoaded(const std::string& path) {
  void* h = dlopen(path.c_str(), RTLD_NOW | RTLD_NOLOAD);
  if (h) dlclose(h);
  return h != nullptr;
}

bool contains(const std::string& s, const std::string& sub) { return s.find(sub) != std::string::npos; }

GpuReading reading(Opt<double> temp, Opt<double> vramPct, Opt<double> powerPct) {
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

GpuCondition cond(const GpuReading& r, const GpuSafetyConfig& c = {}) { return evaluateGpu(r, c).condition; }

int threadCount() {
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
  bool waitFor(std::size_t n, int timeoutMs = 5000) {
    std::unique_lock<std::mutex> l(mu);
    return cv.wait_for(l, std::chrono::milliseconds(timeoutMs), [&] { return samples.size() >= n; });
  }
  std::vector<GpuSample> copy() {
    std::lock_guard<std::mutex> l(mu);
    return samples;
  }
};

double msSince(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t).count();
}

}  // namespace

// ================================================================ evaluation

TEST(gpu_condition_names_and_severity) {
  CHECK(std::string(gpuConditionName(GpuCondition::Safe)) == "safe");
  CHECK(std::string(gpuConditionName(GpuCondition::Warm)) == "warm");
  CHECK(std::string(gpuConditionName(GpuCondition::Warning)) == "warning");
  CHECK(std::string(gpuConditionName(GpuCondition::Critical)) == "critical");
  CHECK(std::string(gpuConditionName(GpuCondition::Emergency)) == "emergency");
  CHECK(std::string(gpuConditionName(GpuCondition::Unknown)) == "unknown");
  CHECK(gpuConditionSeverity(GpuCondition::Safe) == 0);
  CHECK(gpuConditionSeverity(GpuCondition::Warm) == 1);
  CHECK(gpuConditionSeverity(GpuCondition::Warning) == 2);
  CHECK(gpuConditionSeverity(GpuCondition::Critical) == 3);
  CHECK(gpuConditionSeverity(GpuCondition::Emergency) == 4);
  CHECK(gpuConditionSeverity(GpuCondition::Unknown) == -1);
}

TEST(gpu_eval_safe_reports_percentages) {
  GpuEvaluation e = evaluateGpu(reading(45.0, 50.0, 20.0), {});
  CHECK(e.condition == GpuCondition::Safe);
  CHECK_NEAR(e.vramPercent, 50.0, 1e-9);
  CHECK_NEAR(e.powerPercent, 20.0, 1e-9);
  CHECK(!e.reason.empty());
}

TEST(gpu_eval_temperature_thresholds_inclusive) {
  CHECK(cond(reading(69.9, {}, {})) == GpuCondition::Safe);
  CHECK(cond(reading(70.0, {}, {})) == GpuCondition::Warm);
  CHECK(cond(reading(79.9, {}, {})) == GpuCondition::Warm);
  CHECK(cond(reading(80.0, {}, {})) == GpuCondition::Warning);
  CHECK(cond(reading(89.9, {}, {})) == GpuCondition::Warning);
  CHECK(cond(reading(90.0, {}, {})) == GpuCondition::Critical);
  CHECK(cond(reading(94.9, {}, {})) == GpuCondition::Critical);
  CHECK(cond(reading(95.0, {}, {})) == GpuCondition::Emergency);
  GpuSafetyConfig c;
  c.tempWarning = 60;  // a warning threshold below 70 wins over "warm"
  CHECK(cond(reading(65.0, {}, {}), c) == GpuCondition::Warning);
  CHECK(contains(evaluateGpu(reading(72.0, {}, {}), {}).reason, "temperature 72.0°C >= warm 70"));
}

TEST(gpu_eval_vram_and_power_thresholds_inclusive) {
  CHECK(cond(reading({}, 89.99, {})) == GpuCondition::Safe);
  CHECK(cond(reading({}, 90.0, {})) == GpuCondition::Warning);
  CHECK(cond(reading({}, 94.99, {})) == GpuCondition::Warning);
  CHECK(cond(reading({}, 95.0, {})) == GpuCondition::Critical);
  CHECK(cond(reading({}, {}, 94.99)) == GpuCondition::Safe);
  CHECK(cond(reading({}, {}, 95.0)) == GpuCondition::Warning);
  CHECK(cond(reading({}, {}, 100.0)) == GpuCondition::Critical);
  CHECK(cond(reading({}, {}, 130.0)) == GpuCondition::Critical);
  GpuSafetyConfig c;
  c.vramWarning = 50;
  c.vramCritical = 60;
  CHECK(cond(reading({}, 55.0, {}), c) == GpuCondition::Warning);
  CHECK(cond(reading({}, 60.0, {}), c) == GpuCondition::Critical);
}

TEST(gpu_eval_most_severe_wins_and_names_every_metric) {
  // VRAM is checked after temperature, yet the critical VRAM decides.
  GpuEvaluation e = evaluateGpu(reading(72.0, 96.0, 10.0), {});
  CHECK(e.condition == GpuCondition::Critical);
  CHECK(contains(e.reason, "temperature 72.0°C >= warm 70"));
  CHECK(contains(e.reason, "VRAM 96.0% >= critical 95"));
  // Power last, and it is the only critical one.
  e = evaluateGpu(reading(81.0, 91.0, 100.0), {});
  CHECK(e.condition == GpuCondition::Critical);
  CHECK(contains(e.reason, "temperature 81.0°C >= warning 80"));
  CHECK(contains(e.reason, "VRAM 91.0% >= warning 90"));
  CHECK(contains(e.reason, "power 100.0% of limit >= critical 100"));
  // Temperature emergency beats a VRAM warning.
  CHECK(cond(reading(96.0, 91.0, {})) == GpuCondition::Emergency);
  // The example from the spec.
  GpuReading r = reading(91.0, {}, {});
  r.vramTotalGb = 100;
  r.vramUsedGb = 96.1;
  e = evaluateGpu(r, {});
  CHECK(e.condition == GpuCondition::Critical);
  CHECK(e.reason == "temperature 91.0°C >= critical 90; VRAM 96.1% >= critical 95");
}

TEST(gpu_eval_shutdown_margin_is_emergency) {
  GpuSafetyConfig lax;
  lax.tempWarning = 150;
  lax.tempCritical = 160;
  lax.tempEmergency = 170;  // whatever the config says
  GpuReading r = reading(83.0, {}, {});
  r.temperatureMaxC = 86;
  GpuEvaluation e = evaluateGpu(r, lax);
  CHECK(e.condition == GpuCondition::Emergency);  // 83 >= 86 - 3, inclusive
  CHECK(contains(e.reason, "within 3°C of the card's shutdown threshold 86"));
  r.temperatureC = 82.9;
  CHECK(cond(r, lax) == GpuCondition::Warm);
  r.temperatureC = 90;  // past the threshold itself
  CHECK(cond(r, lax) == GpuCondition::Emergency);
  r.temperatureMaxC.reset();  // unknown threshold: config rules only
  CHECK(cond(r, lax) == GpuCondition::Warm);
}

TEST(gpu_eval_unknown_cases) {
  GpuReading failed = reading(50.0, 10.0, 10.0);
  failed.ok = false;
  failed.error = "device 0: GPU is lost";
  GpuEvaluation e = evaluateGpu(failed, {});
  CHECK(e.condition == GpuCondition::Unknown);
  CHECK(contains(e.reason, "GPU is lost"));
  CHECK(std::isnan(e.vramPercent) && std::isnan(e.powerPercent));

  GpuReading empty;
  empty.name = "Only a name";
  empty.fanPercent = 50;
  e = evaluateGpu(empty, {});
  CHECK(e.condition == GpuCondition::Unknown);
  CHECK(contains(e.reason, "no temperature, VRAM or power"));

  GpuReading halves;  // a draw without a limit, or VRAM without a total, cannot be judged
  halves.powerDrawW = 500;
  halves.vramUsedGb = 10;
  halves.vramTotalGb = 0;
  CHECK(cond(halves) == GpuCondition::Unknown);
  halves.temperatureC = std::nan("");
  CHECK(cond(halves) == GpuCondition::Unknown);
}

TEST(gpu_eval_missing_metrics_skipped) {
  CHECK(cond(reading({}, 96.0, {})) == GpuCondition::Critical);
  CHECK(cond(reading({}, {}, 50.0)) == GpuCondition::Safe);
  GpuEvaluation e = evaluateGpu(reading(50.0, {}, {}), {});
  CHECK(e.condition == GpuCondition::Safe);
  CHECK(std::isnan(e.vramPercent) && std::isnan(e.powerPercent));
}

TEST(gpu_eval_monotonic_randomised) {
  std::mt19937 rng(1234);
  std::uniform_real_distribution<double> temp(20, 110), pct(0, 120), bump(0, 30), thr(50, 110);
  for (int i = 0; i < 20000; ++i) {
    GpuSafetyConfig c;
    if (i % 3 == 0) {  // also arbitrary (even out-of-order) configs
      c.tempWarning = thr(rng), c.tempCritical = thr(rng), c.tempEmergency = thr(rng);
      c.vramWarning = thr(rng), c.vramCritical = thr(rng);
      c.powerWarning = thr(rng), c.powerCritical = thr(rng);
    }
    GpuReading r = reading(temp(rng), pct(rng), pct(rng));
    if (i % 2) r.temperatureMaxC = thr(rng);
    if (i % 5 == 0) r.temperatureC.reset();
    if (i % 7 == 0) r.vramUsedGb.reset();
    int base = gpuConditionSeverity(cond(r, c));
    GpuReading hotter = r, fuller = r, hungrier = r;
    if (hotter.temperatureC) *hotter.temperatureC += bump(rng);
    if (fuller.vramUsedGb) *fuller.vramUsedGb += bump(rng) / 100.0 * 80;
    *hungrier.powerDrawW += bump(rng) / 100.0 * 700;
    CHECK(gpuConditionSeverity(cond(hotter, c)) >= base);
    CHECK(gpuConditionSeverity(cond(fuller, c)) >= base);
    CHECK(gpuConditionSeverity(cond(hungrier, c)) >= base);
  }
}

// ================================================================ NVML loader

TEST(gpu_nvml_decode_throttle_reasons) {
  CHECK(decodeThrottleReasons(0).empty());
  auto all = decodeThrottleReasons(0x1FF);
  std::vector<std::string> expect = {"gpu_idle",           "applications_clocks_setting", "sw_power_cap",
                                     "hw_slowdown",        "sync_boost",                  "sw_thermal_slowdown",
                                     "hw_thermal_slowdown", "hw_power_brake_slowdown",    "display_clock_setting"};
  CHECK(all == expect);
  CHECK(decodeThrottleReasons(0x44) == (std::vector<std::string>{"sw_power_cap", "hw_thermal_slowdown"}));
  CHECK(decodeThrottleReasons(0x200).empty());  // bits unknown to us are not named
}

TEST(gpu_nvml_missing_library_is_unavailable) {
  freshNvml();
  NvmlAvailability a = nvmlEnsureInit("/nonexistent/dir/libnvidia-ml.so.1");
  CHECK(!a.available);
  CHECK(a.libraryPath == "/nonexistent/dir/libnvidia-ml.so.1");
  CHECK(contains(a.reason, "/nonexistent/dir/libnvidia-ml.so.1 not found: "));
  CHECK(nvmlDeviceCount() == 0);
  GpuReading r = nvmlReadDevice(0);
  CHECK(!r.ok);
  CHECK(r.error == a.reason);
  CHECK(r.timestampMs > 0);
  CHECK(cond(r) == GpuCondition::Unknown);
  // A library lacking the required entry points (libc is not NVML).
  freshNvml();
  a = nvmlEnsureInit("libc.so.6");
  CHECK(!a.available);
  CHECK(contains(a.reason, "lacks nvmlInit_v2"));
  freshNvml();
}

TEST(gpu_nvml_default_library_name) {
  freshNvml();
  NvmlAvailability a = nvmlEnsureInit();
  CHECK(a.libraryPath == "libnvidia-ml.so.1");
  if (!a.available) {  // the usual case here: no NVIDIA driver
    CHECK(a.reason.rfind("libnvidia-ml.so.1 not found: ", 0) == 0);
    CHECK(nvmlDeviceCount() == 0);
  } else {  // a real driver: a device reads
    CHECK(nvmlDeviceCount() > 0);
    GpuReading r = nvmlReadDevice(0);
    CHECK(r.ok);
    CHECK(r.name.has_value());
    CHECK(r.temperatureC.has_value());
    CHECK(r.vramTotalGb.has_value() && *r.vramTotalGb > 0);
  }
  freshNvml();
}

TEST(gpu_nvml_stub_by_override_reads_everything) {
  freshNvml();
  writeScript(kTwoDevices);
  const std::string lib = stubPath("modern");
  NvmlAvailability a = nvmlEnsureInit(lib);
  CHECK(a.available);
  CHECK(a.reason.empty());
  CHECK(a.libraryPath == lib);
  CHECK(nvmlDeviceCount() == 2);
  double before = wallClockMs();
  GpuReading r = nvmlReadDevice(0);
  CHECK(r.ok);
  CHECK(r.error.empty());
  CHECK(r.deviceIndex == 0);
  CHECK(r.timestampMs >= before && r.timestampMs <= wallClockMs());
  CHECK(r.name && *r.name == "Stub H200");
  CHECK(r.uuid && *r.uuid == "GPU-0000");
  CHECK(r.temperatureC && *r.temperatureC == 45);
  CHECK(r.temperatureMaxC && *r.temperatureMaxC == 95);
  CHECK(r.temperatureSlowdownC && *r.temperatureSlowdownC == 90);
  CHECK(r.vramTotalGb);
  CHECK_NEAR(*r.vramTotalGb, 143771.0 / 1024.0, 1e-9);
  CHECK_NEAR(*r.vramUsedGb, 1.0, 1e-12);
  CHECK_NEAR(*r.vramFreeGb, (143771.0 - 1024.0) / 1024.0, 1e-9);
  CHECK_NEAR(*r.powerDrawW, 120.0, 1e-12);
  CHECK_NEAR(*r.powerLimitW, 700.0, 1e-12);
  CHECK(r.gpuUtilization && *r.gpuUtilization == 30);
  CHECK(r.memoryUtilization && *r.memoryUtilization == 10);
  CHECK(r.smClockMhz && *r.smClockMhz == 1980);
  CHECK(r.memClockMhz && *r.memClockMhz == 2619);
  CHECK(!r.fanPercent);  // NA → not supported → nullopt, others unaffected
  CHECK(r.throttleReasons && *r.throttleReasons == (std::vector<std::string>{"sw_power_cap", "hw_thermal_slowdown"}));
  CHECK(r.processes && r.processes->size() == 2);
  CHECK((*r.processes)[0].pid == 1234);
  CHECK_NEAR((*r.processes)[0].usedMemoryMb, 2048.0, 1e-12);
  CHECK((*r.processes)[1].pid == 5678);
  CHECK_NEAR((*r.processes)[1].usedMemoryMb, 512.0, 1e-12);
  CHECK(evaluateGpu(r, {}).condition == GpuCondition::Safe);
  // The enforced limit is preferred; the management limit is only a fallback.
  CHECK(stubCalls(lib, "nvmlDeviceGetEnforcedPowerLimit") == 1);
  CHECK(stubCalls(lib, "nvmlDeviceGetPowerManagementLimit") == 0);

  GpuReading r1 = nvmlReadDevice(1);  // a sparser device: missing keys are "not supported"
  CHECK(r1.ok);
  CHECK(r1.deviceIndex == 1);
  CHECK(*r1.name == "Stub Second");
  CHECK(*r1.temperatureC == 60);
  CHECK(!r1.uuid && !r1.temperatureMaxC && !r1.powerDrawW && !r1.powerLimitW && !r1.gpuUtilization);
  CHECK(!r1.smClockMhz && !r1.throttleReasons && !r1.processes);
  CHECK_NEAR(*r1.vramUsedGb, 0.5, 1e-12);

  // Newest entry points preferred, init exactly once.
  CHECK(stubCalls(lib, "nvmlInit_v2") == 1);
  CHECK(stubCalls(lib, "nvmlInit") == 0);
  CHECK(stubCalls(lib, "nvmlDeviceGetCount_v2") >= 1 && stubCalls(lib, "nvmlDeviceGetCount") == 0);
  CHECK(stubCalls(lib, "nvmlDeviceGetHandleByIndex_v2") >= 2 && stubCalls(lib, "nvmlDeviceGetHandleByIndex") == 0);
  CHECK(stubCalls(lib, "nvmlDeviceGetMemoryInfo_v2") >= 2 && stubCalls(lib, "nvmlDeviceGetMemoryInfo") == 0);
  CHECK(stubCalls(lib, "nvmlDeviceGetComputeRunningProcesses_v3") >= 1);
  CHECK(stubCalls(lib, "nvmlDeviceGetComputeRunningProcesses_v2") == 0);
  CHECK(stubCalls(lib, "nvmlDeviceGetCurrentClocksEventReasons") >= 1);
  CHECK(stubCalls(lib, "nvmlDeviceGetCurrentClocksThrottleReasons") == 0);
  // Device 1 has no enforced limit ("not supported"): the fallback was tried.
  CHECK(stubCalls(lib, "nvmlDeviceGetPowerManagementLimit") == 1);
  freshNvml();
}

TEST(gpu_nvml_stub_by_environment_variable) {
  freshNvml();
  writeScript(kTwoDevices);
  const std::string lib = stubPath("modern");
  setenv(nvml::kLibraryEnvVar, lib.c_str(), 1);
  GpuReading r = nvmlReadDevice(0);  // initialises on demand, from the env var
  CHECK(r.ok);
  CHECK(*r.name == "Stub H200");
  NvmlAvailability a = nvmlEnsureInit();
  CHECK(a.available && a.libraryPath == lib);
  // An explicit override wins over the environment.
  nvmlResetState();
  a = nvmlEnsureInit("/nonexistent/libnvidia-ml.so.1");
  CHECK(!a.available && a.libraryPath == "/nonexistent/libnvidia-ml.so.1");
  freshNvml();
}

TEST(gpu_nvml_init_failure_cached_until_reset) {
  freshNvml();
  const std::string lib = stubPath("modern");
  writeScript("init=fail:9\ndevices=1\n0.temp=40\n");
  NvmlAvailability a = nvmlEnsureInit(lib);
  CHECK(!a.available);
  CHECK(a.reason == "nvmlInit_v2 failed: Driver Not Loaded");
  CHECK(!stubLoaded(lib));  // a failed init does not keep the library mapped
  writeScript("init=ok\ndevices=1\n0.temp=40\n");
  a = nvmlEnsureInit(lib);  // cached: not retried
  CHECK(!a.available);
  CHECK(a.reason == "nvmlInit_v2 failed: Driver Not Loaded");
  CHECK(nvmlDeviceCount() == 0);
  CHECK(!nvmlReadDevice(0).ok);
  nvmlResetState();
  a = nvmlEnsureInit(lib);
  CHECK(a.available);
  CHECK(nvmlDeviceCount() == 1);
  CHECK(*nvmlReadDevice(0).temperatureC == 40);
  freshNvml();
}

TEST(gpu_nvml_reset_shuts_down_and_unloads) {
  freshNvml();
  writeScript(kTwoDevices);
  const std::string lib = stubPath("modern");
  CHECK(nvmlEnsureInit(lib).available);
  CHECK(nvmlEnsureInit(lib).available);  // second call: cached, no second nvmlInit
  void* h = dlopen(lib.c_str(), RTLD_NOW | RTLD_NOLOAD);
  CHECK(h);
  auto ref = reinterpret_cast<int (*)()>(dlsym(h, "bpStubNvmlInitRefCount"));
  CHECK(ref && ref() == 1);
  dlclose(h);
  nvmlResetState();
  CHECK(!stubLoaded(lib));
  nvmlResetState();  // idempotent
  CHECK(nvmlEnsureInit(lib).available);
  CHECK(stubCalls(lib, "nvmlInit_v2") == 1);  // a fresh load: counters start over
  freshNvml();
}

TEST(gpu_nvml_unsupported_and_failing_fields) {
  freshNvml();
  const std::string lib = stubPath("modern");
  writeScript(std::string(kTwoDevices) + "0.power_mw=ERR:999\n0.clock_sm=NA\n0.procs=ERR:4\n");
  CHECK(nvmlEnsureInit(lib).available);
  GpuReading r = nvmlReadDevice(0);
  CHECK(r.ok);  // single query errors only blank their field
  CHECK(!r.powerDrawW && !r.smClockMhz && !r.processes && !r.fanPercent);
  CHECK(r.powerLimitW && r.memClockMhz && r.temperatureC && r.vramUsedGb);
  freshNvml();
}

TEST(gpu_nvml_script_change_changes_next_reading) {
  freshNvml();
  const std::string lib = stubPath("modern");
  writeScript(kTwoDevices);
  CHECK(nvmlEnsureInit(lib).available);
  CHECK(*nvmlReadDevice(0).temperatureC == 45);
  writeScript(std::string(kTwoDevices) + "0.temp=77\n0.throttle=0x1\n0.procs=\n0.mem_used_mb=143000\n");
  GpuReading r = nvmlReadDevice(0);
  CHECK(*r.temperatureC == 77);
  CHECK(*r.throttleReasons == std::vector<std::string>{"gpu_idle"});
  CHECK(r.processes && r.processes->empty());  // supported, nobody running
  CHECK(evaluateGpu(r, {}).condition == GpuCondition::Critical);  // VRAM 99.5%
  freshNvml();
}

TEST(gpu_nvml_processes_many_and_unattributed) {
  freshNvml();
  const std::string lib = stubPath("modern");
  std::string procs = "0.procs=";
  for (int i = 0; i < 40; ++i) procs += (i ? "," : "") + std::to_string(1000 + i) + ":" + std::to_string(i);
  writeScript(std::string(kTwoDevices) + procs + ",77:NA\n");
  CHECK(nvmlEnsureInit(lib).available);
  GpuReading r = nvmlReadDevice(0);
  CHECK(r.processes && r.processes->size() == 41);
  CHECK((*r.processes)[39].pid == 1039);
  CHECK_NEAR((*r.processes)[39].usedMemoryMb, 39.0, 1e-12);
  CHECK((*r.processes)[40].pid == 77);
  CHECK(std::isnan((*r.processes)[40].usedMemoryMb));
  freshNvml();
}

TEST(gpu_nvml_read_failures) {
  freshNvml();
  const std::string lib = stubPath("modern");
  writeScript(std::string(kTwoDevices) + "0.fail=1\n1.handle_fail=6\n");
  CHECK(nvmlEnsureInit(lib).available);
  GpuReading r = nvmlReadDevice(0);
  CHECK(!r.ok);
  CHECK(contains(r.error, "device 0: "));
  CHECK(contains(r.error, "Unknown Error"));
  CHECK(!r.temperatureC);
  GpuReading r1 = nvmlReadDevice(1);
  CHECK(!r1.ok);
  CHECK(contains(r1.error, "nvmlDeviceGetHandleByIndex failed"));
  GpuReading r5 = nvmlReadDevice(5);  // no such device
  CHECK(!r5.ok);
  CHECK(!nvmlReadDevice(-1).ok);
  // A lost GPU fails the reading even if some queries still answer.
  writeScript(std::string(kTwoDevices) + "0.fan=ERR:15\n");
  r = nvmlReadDevice(0);
  CHECK(!r.ok);
  CHECK(contains(r.error, "GPU is lost"));
  // Recovered.
  writeScript(kTwoDevices);
  CHECK(nvmlReadDevice(0).ok);
  freshNvml();
}

TEST(gpu_nvml_legacy_driver_fallbacks) {
  freshNvml();
  const std::string lib = stubPath("legacy");
  writeScript(std::string(kTwoDevices) + "0.mem_reserved_mb=100\n");
  NvmlAvailability a = nvmlEnsureInit(lib);
  CHECK(a.available);
  CHECK(nvmlDeviceCount() == 2);
  GpuReading r = nvmlReadDevice(0);
  CHECK(r.ok);
  CHECK(*r.name == "Stub H200");
  CHECK_NEAR(*r.vramUsedGb, (1024.0 + 100.0) / 1024.0, 1e-12);  // v1 counts reserved as used
  CHECK_NEAR(*r.powerLimitW, 700.0, 1e-12);                     // via PowerManagementLimit
  CHECK(*r.throttleReasons == (std::vector<std::string>{"sw_power_cap", "hw_thermal_slowdown"}));
  CHECK(r.processes && r.processes->size() == 2);  // v1 layout decoded correctly
  CHECK((*r.processes)[0].pid == 1234 && (*r.processes)[1].pid == 5678);
  CHECK_NEAR((*r.processes)[1].usedMemoryMb, 512.0, 1e-12);
  CHECK(stubCalls(lib, "nvmlInit") == 1);
  CHECK(stubCalls(lib, "nvmlDeviceGetCount") >= 1);
  CHECK(stubCalls(lib, "nvmlDeviceGetHandleByIndex") >= 1);
  CHECK(stubCalls(lib, "nvmlDeviceGetMemoryInfo") >= 1);
  CHECK(stubCalls(lib, "nvmlDeviceGetCurrentClocksThrottleReasons") >= 1);
  CHECK(stubCalls(lib, "nvmlDeviceGetComputeRunningProcesses") >= 1);
  CHECK(stubCalls(lib, "nvmlDeviceGetPowerManagementLimit") >= 1);
  // Init failure names the symbol actually used.
  nvmlResetState();
  writeScript("init=fail:12\n");
  CHECK(nvmlEnsureInit(lib).reason == "nvmlInit failed: Library Not Found");
  freshNvml();
}

TEST(gpu_nvml_v2_process_fallback_and_memory_v2) {
  freshNvml();
  const std::string lib = stubPath("nov3");
  writeScript(std::string(kTwoDevices) + "0.mem_reserved_mb=100\n");
  CHECK(nvmlEnsureInit(lib).available);
  GpuReading r = nvmlReadDevice(0);
  CHECK(r.processes && r.processes->size() == 2 && (*r.processes)[1].pid == 5678);
  CHECK(stubCalls(lib, "nvmlDeviceGetComputeRunningProcesses_v2") >= 1);
  CHECK(stubCalls(lib, "nvmlDeviceGetComputeRunningProcesses") == 0);
  // _v2 memory (the stub checks the version field): used excludes reserved.
  CHECK_NEAR(*r.vramUsedGb, 1.0, 1e-12);
  CHECK_NEAR(*r.vramFreeGb, (143771.0 - 1024.0 - 100.0) / 1024.0, 1e-9);
  CHECK(stubCalls(lib, "nvmlDeviceGetMemoryInfo_v2") >= 1 && stubCalls(lib, "nvmlDeviceGetMemoryInfo") == 0);
  freshNvml();
}

TEST(gpu_nvml_concurrent_reads_and_resets) {
  freshNvml();
  const std::string lib = stubPath("modern");
  writeScript(kTwoDevices);
  setenv(nvml::kLibraryEnvVar, lib.c_str(), 1);  // set before the threads start: getenv is not race-free
  std::atomic<int> okReads{0}, bad{0};
  std::vector<std::thread> readers;
  for (int t = 0; t < 4; ++t)
    readers.emplace_back([&, t] {
      for (int i = 0; i < 150; ++i) {
        GpuReading r = nvmlReadDevice(t % 2);
        if (r.ok && r.temperatureC && r.name) ++okReads;
        else if (r.ok || r.error.empty()) ++bad;  // a failure must say why
      }
    });
  for (int i = 0; i < 20; ++i) {
    nvmlResetState();
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  for (auto& th : readers) th.join();
  CHECK(bad.load() == 0);
  CHECK(okReads.load() > 0);
  freshNvml();
}

// ================================================================ monitor

TEST(gpu_monitor_scripted_samples_in_order) {
  std::vector<GpuReading> script;
  for (int i = 0; i < 4; ++i) script.push_back(reading(50.0 + i, 10.0, 10.0));  // device 0: 50..53
  GpuReading d1 = reading(85.0, 10.0, 10.0);
  d1.deviceIndex = 1;
  script.push_back(d1);
  Collector c;
  GpuMonitorThread m(makeScriptedSource(script, false), {0, 1}, {}, 5, c.sink());
  CHECK(!m.running());
  m.start();
  CHECK(m.running());
  CHECK(c.waitFor(20));
  m.stop();
  CHECK(!m.running());
  auto s = c.copy();
  CHECK(s.size() >= 20);
  double last[2] = {0, 0};
  for (std::size_t i = 0; i < s.size(); ++i) {
    CHECK(s[i].sequence == i);
    int dev = s[i].reading.deviceIndex;
    CHECK(dev == static_cast<int>(i % 2));  // devices in the order given, every tick
    CHECK(s[i].reading.timestampMs > last[dev]);
    last[dev] = s[i].reading.timestampMs;
    CHECK(s[i].reading.ok && s[i].consecutiveFailures == 0 && !s[i].recovered);
  }
  // Device 0 consumed 50, 51, 52, 53, then the last repeats; device 1 repeats its only one.
  for (int k = 0; k < 10; ++k) CHECK(*s[2 * k].reading.temperatureC == (k < 4 ? 50.0 + k : 53.0));
  CHECK(*s[1].reading.temperatureC == 85 && s[1].evaluation.condition == GpuCondition::Warning);
  CHECK(*s[19].reading.temperatureC == 85);
  CHECK(std::fabs(s[0].reading.timestampMs - wallClockMs()) < 60000);  // wall clock, ms since epoch
}

TEST(gpu_monitor_scripted_loop_and_missing_device) {
  std::vector<GpuReading> script = {reading(40.0, {}, {}), reading(41.0, {}, {})};
  Collector c;
  GpuMonitorThread m(makeScriptedSource(script, true), {0, 3}, {}, 1, c.sink());
  m.start();
  CHECK(c.waitFor(10));
  m.stop();
  auto s = c.copy();
  CHECK(*s[0].reading.temperatureC == 40 && *s[2].reading.temperatureC == 41);
  CHECK(*s[4].reading.temperatureC == 40 && *s[6].reading.temperatureC == 41);
  CHECK(!s[1].reading.ok && s[1].reading.deviceIndex == 3);
  CHECK(s[1].evaluation.condition == GpuCondition::Unknown);
  CHECK(s[1].consecutiveFailures == 1 && s[3].consecutiveFailures == 2);
}

TEST(gpu_monitor_failure_counting_and_recovery) {
  GpuReading bad;
  bad.ok = false;
  bad.error = "boom";
  std::vector<GpuReading> script = {reading(50.0, {}, {}), bad, bad, bad, reading(51.0, {}, {}),
                                    reading(52.0, {}, {}), bad, reading(53.0, {}, {})};
  Collector c;
  GpuMonitorThread m(makeScriptedSource(script, false), {0}, {}, 1, c.sink());
  m.start();
  CHECK(c.waitFor(8));
  m.stop();
  auto s = c.copy();
  int expectFailures[] = {0, 1, 2, 3, 0, 0, 1, 0};
  bool expectRecovered[] = {false, false, false, false, true, false, false, true};
  int expectAfter[] = {0, 0, 0, 0, 3, 0, 0, 1};
  for (int i = 0; i < 8; ++i) {
    CHECK(s[i].consecutiveFailures == expectFailures[i]);
    CHECK(s[i].recovered == expectRecovered[i]);
    CHECK(s[i].afterFailures == expectAfter[i]);
  }
  CHECK(s[1].evaluation.condition == GpuCondition::Unknown && contains(s[1].evaluation.reason, "boom"));
}

TEST(gpu_monitor_first_sample_immediate_and_stop_prompt) {
  Collector c;
  GpuMonitorThread m(makeScriptedSource({reading(50.0, {}, {})}, false), {0}, {}, 10000, c.sink());
  auto t0 = std::chrono::steady_clock::now();
  m.start();
  CHECK(c.waitFor(1, 2000));
  CHECK(msSince(t0) < 1000);  // not after the first 10 s interval
  auto t1 = std::chrono::steady_clock::now();
  m.stop();
  CHECK(msSince(t1) < 1000);  // woken through the condition variable, not the 10 s wait
  CHECK(c.copy().size() == 1);
  m.stop();  // idempotent
  // The destructor stops a running monitor promptly too.
  auto t2 = std::chrono::steady_clock::now();
  {
    GpuMonitorThread m2(makeScriptedSource({reading(50.0, {}, {})}, false), {0}, {}, 10000, c.sink());
    m2.start();
    CHECK(c.waitFor(2, 2000));
  }
  CHECK(msSince(t2) < 1000);
}

TEST(gpu_monitor_start_stop_300_times_leaks_no_thread) {
  const int before = threadCount();
  CHECK(before >= 1);
  std::atomic<int> samples{0};
  GpuMonitorThread reused(makeScriptedSource({reading(50.0, {}, {})}, false), {0, 1}, {}, 10000,
                          [&](const GpuSample&) { ++samples; });
  for (int i = 0; i < 300; ++i) {
    if (i % 2) {
      reused.start();
      reused.start();  // no-op while running
      reused.stop();
    } else {
      GpuMonitorThread m(makeScriptedSource({reading(50.0, {}, {})}, false), {0}, {}, 10000,
                         [&](const GpuSample&) { ++samples; });
      m.start();
      if (i % 4 == 0) m.stop();  // otherwise the destructor stops it
    }
  }
  CHECK(threadCount() == before);
  CHECK(samples.load() >= 300);  // every start() delivers at least its first sample
}

TEST(gpu_monitor_stop_from_inside_sink) {
  std::atomic<int> n{0};
  GpuMonitorThread* self = nullptr;
  GpuMonitorThread m(makeScriptedSource({reading(50.0, {}, {})}, false), {0, 1}, {}, 1,
                     [&](const GpuSample&) {
                       if (++n == 3) self->stop();  // returns at once; no sample after this one
                     });
  self = &m;
  m.start();
  auto t0 = std::chrono::steady_clock::now();
  while (m.running() && msSince(t0) < 5000) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  CHECK(!m.running());
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  CHECK(n.load() == 3);
  m.start();  // restart after a stop from the sink (joins the old thread first)
  t0 = std::chrono::steady_clock::now();
  while (n.load() < 5 && msSince(t0) < 5000) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  CHECK(n.load() >= 5);
  m.stop();
}

TEST(gpu_monitor_set_config_applies_to_next_samples) {
  Collector c;
  GpuMonitorThread m(makeScriptedSource({reading(75.0, {}, {})}, false), {0}, {}, 2, c.sink());
  m.start();
  CHECK(c.waitFor(2));
  GpuSafetyConfig strict;
  strict.tempWarning = 60;
  strict.tempCritical = 74;
  m.setConfig(strict);
  CHECK(m.config().tempCritical == 74);
  std::size_t mark = c.copy().size();
  CHECK(c.waitFor(mark + 2));
  m.stop();
  auto s = c.copy();
  CHECK(s[0].evaluation.condition == GpuCondition::Warm);
  CHECK(s.back().evaluation.condition == GpuCondition::Critical);
}

namespace {
// A source whose reads are slow, to show the deadlines do not drift.
struct SlowSource final : GpuSource {
  GpuReading read(int, double) override {
    std::this_thread::sleep_for(std::chrono::milliseconds(15));
    GpuReading r;
    r.temperatureC = 50;
    return r;
  }
};
}  // namespace

TEST(gpu_monitor_deadlines_do_not_drift) {
  Collector c;
  GpuMonitorThread m(std::make_unique<SlowSource>(), {0}, {}, 40, c.sink());
  m.start();
  CHECK(c.waitFor(11));
  m.stop();
  auto s = c.copy();
  // With drift, 10 ticks would take 10 * (40 + 15) = 550 ms; on deadlines, 400.
  double span = s[10].reading.timestampMs - s[0].reading.timestampMs;
  CHECK(span >= 390);
  CHECK(span < 500);
}

TEST(gpu_monitor_nvml_source_against_stub) {
  freshNvml();
  const std::string lib = stubPath("modern");
  writeScript(kTwoDevices);
  Collector c;
  GpuMonitorThread m(makeNvmlSource(lib), {0, 1}, {}, 2, c.sink());
  m.start();
  CHECK(c.waitFor(4));
  // Heat device 0 while the monitor runs: later samples see it.
  writeScript(std::string(kTwoDevices) + "0.temp=93\n");
  std::size_t mark = c.copy().size();
  CHECK(c.waitFor(mark + 4));
  // Then it falls off the bus, then comes back.
  writeScript(std::string(kTwoDevices) + "0.fail=1\n0.fail_code=15\n");
  mark = c.copy().size();
  CHECK(c.waitFor(mark + 6));
  writeScript(kTwoDevices);
  mark = c.copy().size();
  CHECK(c.waitFor(mark + 4));
  m.stop();
  auto s = c.copy();
  CHECK(s[0].reading.ok && *s[0].reading.name == "Stub H200" && s[0].evaluation.condition == GpuCondition::Safe);
  CHECK(s[1].reading.deviceIndex == 1 && *s[1].reading.name == "Stub Second");
  bool sawHot = false, sawLost = false, sawRecovery = false;
  for (const auto& x : s) {
    if (x.reading.deviceIndex != 0) continue;
    if (x.reading.ok && *x.reading.temperatureC == 93) {
      sawHot = true;  // 93 >= shutdown 95 - 3
      CHECK(x.evaluation.condition == GpuCondition::Emergency);
    }
    if (!x.reading.ok) {
      sawLost = true;
      CHECK(contains(x.reading.error, "GPU is lost"));
      CHECK(x.evaluation.condition == GpuCondition::Unknown);
      CHECK(x.consecutiveFailures >= 1);
    }
    if (x.recovered) {
      sawRecovery = true;
      CHECK(x.afterFailures >= 1);
    }
  }
  CHECK(sawHot && sawLost && sawRecovery);
  freshNvml();
}

TEST(gpu_monitor_nvml_unavailable_reports_unknown) {
  freshNvml();
  Collector c;
  GpuMonitorThread m(makeNvmlSource("/nonexistent/libnvidia-ml.so.1"), {0}, {}, 1, c.sink());
  m.start();
  CHECK(c.waitFor(3));
  m.stop();
  auto s = c.copy();
  CHECK(!s[0].reading.ok && contains(s[0].reading.error, "not found"));
  CHECK(s[0].evaluation.condition == GpuCondition::Unknown);
  CHECK(s[2].consecutiveFailures == 3);
  CHECK(s[0].reading.timestampMs > 0);
  freshNvml();
}
