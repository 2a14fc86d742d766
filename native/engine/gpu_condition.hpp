// GPU safety thresholds and the evaluation of one reading against them.
// Plain C++ (no Node-API): the monitor thread evaluates every sample.
#pragma once
#include <string>

#include "nvml.hpp"

namespace bp {

enum class GpuCondition { Safe, Warm, Warning, Critical, Emergency, Unknown };

const char* gpuConditionName(GpuCondition);  // "safe", "warm", "warning", "critical", "emergency", "unknown"
int gpuConditionSeverity(GpuCondition);      // Safe 0 .. Emergency 4, Unknown -1

// Every threshold is inclusive (value >= threshold). Temperatures in °C,
// VRAM as used/total percent, power as draw/limit percent.
struct GpuSafetyConfig {
  double tempWarning = 80, tempCritical = 90, tempEmergency = 95;
  double vramWarning = 90, vramCritical = 95;
  double powerWarning = 95, powerCritical = 100;
};

// Fixed rules, independent of the config:
constexpr double kGpuWarmTemperatureC = 70;      // >= this is at least "warm"
constexpr double kGpuShutdownMarginC = 3;        // within this of the card's shutdown threshold: "emergency"

struct GpuEvaluation {
  GpuCondition condition = GpuCondition::Unknown;
  std::string reason;  // every metric past a threshold, "; "-separated
  double vramPercent;  // NaN if unknown
  double powerPercent; // NaN if unknown
};

// The condition is the most severe across temperature, VRAM and power.
// A failed reading, or one with none of the three, is Unknown; a single
// missing metric is simply skipped.
GpuEvaluation evaluateGpu(const GpuReading&, const GpuSafetyConfig&);

}  // namespace bp
