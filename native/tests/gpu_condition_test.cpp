// GPU condition evaluation: thresholds, severity order, unknown and missing
// metrics, on hand-made readings.
#include <cmath>
#include <random>

#include "gpu_test_support.hpp"

using namespace bp;
using namespace gputest;

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
