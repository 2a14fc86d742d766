// Acts on GPU samples for one training run, on the sampling thread itself:
// a 'critical' GPU holds the trainer at its next step boundary, an
// 'emergency' stops it with RUNTIME_GPU_TEMPERATURE_CRITICAL. Because this
// runs natively, a blocked or busy JavaScript thread cannot delay it.
#pragma once
#include <cmath>
#include <mutex>
#include <string>

#include "gpu_monitor.hpp"

namespace bp {

class Trainer;

struct GpuGuardPolicy {
  bool pauseOnCritical = true;
  bool abortOnEmergency = true;
  double cooldownMs = 30000;     // one wait for the GPU to recover
  int maxCooldownAttempts = 6;   // waits before giving up
  double resumeBelowTempC = 80;  // hysteresis: resume only below the warning temperature
};

struct GpuGuardStats {
  double maxTempC = NAN;
  double maxVramPercent = NAN;
  int pauses = 0;
  bool holding = false;
  bool failed = false;
};

class GpuSafetyGuard {
 public:
  GpuSafetyGuard(Trainer* trainer, GpuGuardPolicy policy) : trainer_(trainer), policy_(policy) {}

  // Called on the sampling thread for each sample of the watched device.
  void onSample(const GpuSample& sample, double nowMs);
  // The monitor stopped while this guard was attached: a held run cannot be
  // released safely any more, so it fails instead of waiting forever.
  void onMonitorStopped();
  GpuGuardStats stats() const;

 private:
  void fail(const std::string& message);
  void release();

  Trainer* trainer_;
  GpuGuardPolicy policy_;
  mutable std::mutex mutex_;
  GpuGuardStats stats_;
  double attemptStartMs_ = 0;
  int attempts_ = 0;
};

}  // namespace bp
