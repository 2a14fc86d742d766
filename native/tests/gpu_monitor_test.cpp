// The GPU sampling thread: scripted and NVML sources, sample order and
// deadlines, failure counting, start/stop and live config changes.
#include <atomic>
#include <thread>

#include "gpu_test_support.hpp"

using namespace bp;
using namespace gputest;

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
