// Evaluation of a GPU reading against the safety thresholds.
//
// Each metric's level is the maximum over every threshold it has reached
// (rather than an if/else chain), so raising one metric can never lower the
// condition, even with a config whose thresholds are out of order.
#include "gpu_condition.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>

namespace bp {

const char* gpuConditionName(GpuCondition c) {
  switch (c) {
    case GpuCondition::Safe: return "safe";
    case GpuCondition::Warm: return "warm";
    case GpuCondition::Warning: return "warning";
    case GpuCondition::Critical: return "critical";
    case GpuCondition::Emergency: return "emergency";
    case GpuCondition::Unknown: return "unknown";
  }
  return "unknown";
}

int gpuConditionSeverity(GpuCondition c) {
  switch (c) {
    case GpuCondition::Safe: return 0;
    case GpuCondition::Warm: return 1;
    case GpuCondition::Warning: return 2;
    case GpuCondition::Critical: return 3;
    case GpuCondition::Emergency: return 4;
    case GpuCondition::Unknown: return -1;
  }
  return -1;
}

namespace {

std::string fmt(const char* format, double a, double b = 0) {
  char buf[160];
  std::snprintf(buf, sizeof buf, format, a, b);
  return buf;
}

bool known(const Opt<double>& v) { return v.has_value() && std::isfinite(*v); }

// The highest level whose threshold the value reaches, with its name and threshold.
struct Level {
  GpuCondition condition = GpuCondition::Safe;
  const char* name = nullptr;
  double threshold = 0;
};

Level highest(double value, std::initializer_list<Level> levels) {
  Level best;
  for (const Level& l : levels)
    if (value >= l.threshold && gpuConditionSeverity(l.condition) > gpuConditionSeverity(best.condition))
      best = l;
  return best;
}

}  // namespace

GpuEvaluation evaluateGpu(const GpuReading& r, const GpuSafetyConfig& cfg) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  GpuEvaluation e{GpuCondition::Unknown, "", nan, nan};
  if (!r.ok) {
    e.reason = "reading failed: " + (r.error.empty() ? std::string("unknown error") : r.error);
    return e;
  }
  const bool haveTemp = known(r.temperatureC);
  const bool haveVram = known(r.vramUsedGb) && known(r.vramTotalGb) && *r.vramTotalGb > 0;
  const bool havePower = known(r.powerDrawW) && known(r.powerLimitW) && *r.powerLimitW > 0;
  if (haveVram) e.vramPercent = *r.vramUsedGb / *r.vramTotalGb * 100.0;
  if (havePower) e.powerPercent = *r.powerDrawW / *r.powerLimitW * 100.0;
  if (!haveTemp && !haveVram && !havePower) {
    e.reason = "no temperature, VRAM or power reading";
    return e;
  }

  GpuCondition worst = GpuCondition::Safe;
  std::string reason;
  auto note = [&](GpuCondition c, const std::string& text) {
    if (gpuConditionSeverity(c) > gpuConditionSeverity(worst)) worst = c;
    if (!reason.empty()) reason += "; ";
    reason += text;
  };

  if (haveTemp) {
    const double t = *r.temperatureC;
    // The card's own shutdown threshold overrides the config: a few degrees
    // from it the driver is about to cut power, whatever the user set.
    if (known(r.temperatureMaxC) && t >= *r.temperatureMaxC - kGpuShutdownMarginC) {
      note(GpuCondition::Emergency, fmt("temperature %.1f°C within 3°C of the card's shutdown threshold %g°C", t,
                                        *r.temperatureMaxC));
    } else {
      Level l = highest(t, {{GpuCondition::Warm, "warm", kGpuWarmTemperatureC},
                            {GpuCondition::Warning, "warning", cfg.tempWarning},
                            {GpuCondition::Critical, "critical", cfg.tempCritical},
                            {GpuCondition::Emergency, "emergency", cfg.tempEmergency}});
      if (l.name) note(l.condition, fmt("temperature %.1f°C >= ", t) + l.name + fmt(" %g", l.threshold));
    }
  }
  if (haveVram) {
    Level l = highest(e.vramPercent, {{GpuCondition::Warning, "warning", cfg.vramWarning},
                                      {GpuCondition::Critical, "critical", cfg.vramCritical}});
    if (l.name) note(l.condition, fmt("VRAM %.1f%% >= ", e.vramPercent) + l.name + fmt(" %g", l.threshold));
  }
  if (havePower) {
    Level l = highest(e.powerPercent, {{GpuCondition::Warning, "warning", cfg.powerWarning},
                                       {GpuCondition::Critical, "critical", cfg.powerCritical}});
    if (l.name)
      note(l.condition, fmt("power %.1f%% of limit >= ", e.powerPercent) + l.name + fmt(" %g", l.threshold));
  }
  e.condition = worst;
  e.reason = reason.empty() ? "all readings within thresholds" : reason;
  return e;
}

}  // namespace bp
