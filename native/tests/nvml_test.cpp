// The NVML loader and reader, against the stub libnvidia-ml.so.1 (modern,
// nov3 and legacy driver variants): availability, symbol fallbacks, caching
// and reset, per-field failures, and reads racing resets.
#include <atomic>
#include <thread>

#include "gpu_test_support.hpp"

using namespace bp;
using namespace gputest;

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
