// The live simulated GPU: a reading set from another thread is what the
// sampling thread reads from its next sample on; a failed reading is a failed
// read; the source keeps the GPU alive.
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

#include "gpu_test_support.hpp"
#include "simulated_gpu.hpp"
#include "testing.hpp"

using namespace bp;

namespace {

GpuReading hot(double temperature) {
  GpuReading r;
  r.temperatureC = temperature;
  return r;
}

using Samples = gputest::Collector;

}  // namespace

TEST(simulated_gpu_set_is_seen_from_the_next_sample_on) {
  auto gpu = std::make_shared<SimulatedGpu>(hot(50));
  Samples c;
  GpuMonitorThread m(makeSimulatedSource(gpu), {0, 2}, {}, 2, c.sink());
  m.start();
  CHECK(c.waitFor(6));
  const size_t before = c.size();  // samples [0, before) were read before set()
  gpu->set(hot(91));
  CHECK(gpu->version() == 1);
  CHECK(c.waitFor(before + 6));
  m.stop();
  const auto s = c.copy();
  for (size_t i = 0; i < before; ++i) CHECK(*s[i].reading.temperatureC == 50);
  // One sample may have been read while set() ran (per device); every later one is new.
  for (size_t i = before + 2; i < s.size(); ++i) {
    CHECK(*s[i].reading.temperatureC == 91);
    CHECK(s[i].evaluation.condition == GpuCondition::Critical);
  }
  for (size_t i = 0; i < s.size(); ++i) CHECK(s[i].reading.deviceIndex == (i % 2 == 0 ? 0 : 2));
}

TEST(simulated_gpu_failed_reading_is_a_failed_read_and_recovers) {
  auto gpu = std::make_shared<SimulatedGpu>(hot(40));
  GpuReading failed;
  failed.ok = false;
  failed.error = "sensor lost";
  Samples c;
  GpuMonitorThread m(makeSimulatedSource(gpu), {0}, {}, 2, c.sink());
  m.start();
  CHECK(c.waitFor(2));
  gpu->set(failed);
  // Wait for three failures in a row, then recover.
  for (;;) {
    CHECK(c.waitFor(c.size() + 1));
    const auto s = c.copy();
    if (!s.back().reading.ok && s.back().consecutiveFailures >= 3) break;
  }
  gpu->set(hot(45));
  for (;;) {
    CHECK(c.waitFor(c.size() + 1));
    if (c.copy().back().reading.ok) break;
  }
  m.stop();
  const auto s = c.copy();
  bool sawRecovery = false;
  for (const auto& x : s) {
    if (!x.reading.ok) CHECK(x.reading.error == "sensor lost" && x.evaluation.condition == GpuCondition::Unknown);
    if (x.recovered) sawRecovery = x.afterFailures >= 3 && *x.reading.temperatureC == 45;
  }
  CHECK(sawRecovery);
}

TEST(simulated_gpu_outlives_its_owner_while_a_monitor_reads_it) {
  Samples c;
  std::unique_ptr<GpuMonitorThread> m;
  {
    auto gpu = std::make_shared<SimulatedGpu>(hot(60));
    m = std::make_unique<GpuMonitorThread>(makeSimulatedSource(gpu), std::vector<int>{0}, GpuSafetyConfig{}, 1, c.sink());
  }  // the owner's reference is gone; the source keeps the GPU
  m->start();
  CHECK(c.waitFor(5));
  m->stop();
  CHECK(*c.copy().back().reading.temperatureC == 60);
}
