#include "gpu_safety_guard.hpp"

#include <cstdio>

#include "trainer.hpp"

namespace bp {

namespace {
constexpr const char* kCode = "RUNTIME_GPU_TEMPERATURE_CRITICAL";

std::string deviceLabel(const GpuReading& r) {
  return "GPU " + std::to_string(r.deviceIndex) + (r.name ? " (" + *r.name + ")" : "");
}
}  // namespace

void GpuSafetyGuard::fail(const std::string& message) {
  stats_.failed = true;
  stats_.holding = false;
  trainer_->failWith(kCode, message);
}

void GpuSafetyGuard::release() {
  stats_.holding = false;
  trainer_->setSafetyHold(false);
}

void GpuSafetyGuard::onSample(const GpuSample& sample, double nowMs) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (stats_.failed) return;
  const GpuReading& r = sample.reading;
  if (!r.ok) {
    if (stats_.holding && sample.consecutiveFailures >= 3) {
      fail(deviceLabel(r) + " could not be read " + std::to_string(sample.consecutiveFailures) +
           " times in a row while training was paused for heat (" + r.error +
           "); thermal safety is disabled, so the run stops. Check the GPU driver and cooling.");
    }
    return;
  }
  if (r.temperatureC && (std::isnan(stats_.maxTempC) || *r.temperatureC > stats_.maxTempC)) stats_.maxTempC = *r.temperatureC;
  const double vram = sample.evaluation.vramPercent;
  if (!std::isnan(vram) && (std::isnan(stats_.maxVramPercent) || vram > stats_.maxVramPercent)) stats_.maxVramPercent = vram;

  const GpuCondition c = sample.evaluation.condition;
  if (c == GpuCondition::Emergency && policy_.abortOnEmergency) {
    fail(deviceLabel(r) + " is in emergency condition: " + sample.evaluation.reason +
         ". Training stopped to protect the hardware; let the GPU cool and check its cooling before resuming.");
    return;
  }
  if (stats_.holding) {
    const bool cool = (c == GpuCondition::Safe || c == GpuCondition::Warm) &&
                      (!r.temperatureC || *r.temperatureC < policy_.resumeBelowTempC);
    if (cool) {
      release();
      return;
    }
    if (nowMs - attemptStartMs_ >= policy_.cooldownMs) {
      if (attempts_ >= policy_.maxCooldownAttempts) {
        char buf[160];
        std::snprintf(buf, sizeof buf, " stayed too hot through %d cooldown waits of %.0f ms (", attempts_, policy_.cooldownMs);
        fail(deviceLabel(r) + buf + sample.evaluation.reason + "). The run stops; improve cooling or lower the load.");
        return;
      }
      ++attempts_;
      attemptStartMs_ = nowMs;
    }
    return;
  }
  // An emergency the policy does not abort on is still worse than critical: hold.
  if ((c == GpuCondition::Critical || c == GpuCondition::Emergency) && policy_.pauseOnCritical) {
    stats_.holding = true;
    ++stats_.pauses;
    attempts_ = 1;
    attemptStartMs_ = nowMs;
    trainer_->setSafetyHold(true);
  }
}

void GpuSafetyGuard::onMonitorStopped() {
  std::lock_guard<std::mutex> lock(mutex_);
  if (stats_.holding && !stats_.failed) {
    fail("the GPU monitor stopped while training was paused for heat; without readings the pause cannot end safely, so the run stops.");
  }
}

GpuGuardStats GpuSafetyGuard::stats() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return stats_;
}

}  // namespace bp
