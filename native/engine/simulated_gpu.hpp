// A live simulated GPU: one reading, shared between whoever sets it (the
// JavaScript thread, through the addon) and the sampling threads of the
// monitors that read it. set() is seen by every monitor at its next sample;
// no JavaScript runs on a sampling thread to get it.
#pragma once
#include <cstdint>
#include <memory>
#include <mutex>

#include "gpu_monitor.hpp"

namespace bp {

class SimulatedGpu {
 public:
  explicit SimulatedGpu(GpuReading initial);

  // Thread-safe. A reading with ok = false is a failed read (error says why).
  void set(GpuReading reading);
  GpuReading current() const;
  // How many times set() was called: lets a reader tell a change apart.
  std::uint64_t version() const;

 private:
  mutable std::mutex mutex_;
  GpuReading reading_;
  std::uint64_t version_ = 0;
};

// A monitor source that answers every device it is asked for with the
// simulated GPU's current reading (deviceIndex and timestamp set per read).
// It shares ownership, so the GPU outlives the monitors that read it.
std::unique_ptr<GpuSource> makeSimulatedSource(std::shared_ptr<SimulatedGpu> gpu);

}  // namespace bp
